#!/usr/bin/env bash
# deploy/package/build.sh FLAVOUR BINARY OUTDIR
#
# Stages one vmcheck build and packages it with nfpm as a .deb and an .rpm in
# OUTDIR (called by `make package`, from the repository root).
#   FLAVOUR libvirt    package "vmcheck", the cgo build; depends on libvirt
#           nolibvirt  package "vmcheck-nolibvirt", the static build for
#                      Proxmox VE and plain QEMU hosts (--qemu-dir)
# The man page and the shell completions come from BINARY itself
# (vmcheck __generate), so they always match it.
#
# Environment: VERSION (package version, e.g. 0.2.0+git61.455de33d1e2f),
# COMMIT, MAINTAINER, NFPM (the nfpm command), SOURCE_DATE_EPOCH (file
# times; default: now).
set -euo pipefail

flavour=${1:?usage: build.sh libvirt|nolibvirt BINARY OUTDIR}
bin=${2:?usage: build.sh libvirt|nolibvirt BINARY OUTDIR}
out=${3:?usage: build.sh libvirt|nolibvirt BINARY OUTDIR}
: "${VERSION:?}" "${MAINTAINER:?}" "${NFPM:?}"
COMMIT=${COMMIT:-unknown}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
export SOURCE_DATE_EPOCH

case $flavour in
libvirt)
	pkg=vmcheck other=vmcheck-nolibvirt deb_depends="" rpm_depends=libvirt-libs
	summary="VM connectivity check from inside the guest, for libvirt/KVM nodes"
	flavour_text="This package is the build for hosts with libvirt."
	;;
nolibvirt)
	pkg=vmcheck-nolibvirt other=vmcheck deb_depends="" rpm_depends=""
	summary="VM connectivity check from inside the guest, for QEMU hosts without libvirt"
	flavour_text="This package is the static build without libvirt, for Proxmox VE and
plain QEMU hosts: it finds the VMs through their QMP and guest agent sockets."
	;;
*)
	echo "build.sh: FLAVOUR must be libvirt or nolibvirt, not $flavour" >&2
	exit 2
	;;
esac

stage=$(mktemp -d "${TMPDIR:-/tmp}/vmcheck-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# stage_common ROOT UNITDIR ZSHDIR DOCDIR: what both formats ship.
stage_common() {
	local root=$1 unitdir=$2 zshdir=$3 doc=$4
	install -D -m 0755 "$bin" "$root/usr/bin/vmcheck"
	mkdir -p "$root/usr/share/man/man1" "$root$zshdir" "$root/usr/share/bash-completion/completions" \
		"$root/usr/share/fish/vendor_completions.d" "$root$unitdir" "$root$doc/examples"
	"$bin" __generate man | gzip -9n >"$root/usr/share/man/man1/vmcheck.1.gz"
	"$bin" __generate bash >"$root/usr/share/bash-completion/completions/vmcheck"
	"$bin" __generate zsh >"$root$zshdir/_vmcheck"
	"$bin" __generate fish >"$root/usr/share/fish/vendor_completions.d/vmcheck.fish"
	install -m 0644 deploy/systemd/vmcheck.service deploy/systemd/vmcheck-cron.service \
		deploy/systemd/vmcheck-cron.timer "$root$unitdir/"
	install -m 0644 deploy/cron/vmcheck "$root$doc/examples/vmcheck.cron"
	install -m 0644 deploy/prometheus/alerts.yml deploy/web-config.yml deploy/alertmanager/alertmanager.yml \
		deploy/alertmanager/vmcheck.tmpl "$root$doc/examples/"
	gzip -9n <deploy/grafana/vmcheck.json >"$root$doc/examples/grafana-vmcheck.json.gz"
	gzip -9n <deploy/grafana/vmcheck-fleet.json >"$root$doc/examples/grafana-vmcheck-fleet.json.gz"
	install -d -m 0700 "$root/var/lib/vmcheck"
}

# Debian: units in /lib (bookworm), compressed docs, copyright and
# changelog.Debian as lintian wants them.
deb=$stage/deb doc=/usr/share/doc/$pkg
stage_common "$deb" /lib/systemd/system /usr/share/zsh/vendor-completions "$doc"
for f in README.md docs/*.md; do
	name=$(basename "$f")
	gzip -9n <"$f" >"$deb$doc/$name.gz"
done
install -m 0644 deploy/package/copyright "$deb$doc/copyright"
{
	printf '%s (%s-1) unstable; urgency=medium\n\n' "$pkg" "$VERSION"
	printf '  * Built from commit %s of vmcheck %s.\n' "${COMMIT:0:12}" "${VERSION%%+*}"
	printf '    See https://github.com/vmcheck/vmcheck/commits for the changes.\n\n'
	printf ' -- %s  %s\n' "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$deb$doc/changelog.Debian.gz"
if [ "$flavour" = libvirt ]; then
	# The shared libraries the binary links, at the versions its symbols need.
	mkdir -p "$stage/shlibs/debian"
	: >"$stage/shlibs/debian/control"
	deb_depends=$(cd "$stage/shlibs" && dpkg-shlibdeps -O -e "$deb/usr/bin/vmcheck" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	[ -n "$deb_depends" ] || { echo "build.sh: dpkg-shlibdeps found no dependencies of $bin" >&2; exit 1; }
fi
if [ "$flavour" = nolibvirt ]; then
	# Go builds without cgo are static by design; lintian only exempts them
	# when it sees the Go toolchain in the source package's build depends.
	install -D -m 0644 /dev/stdin "$deb/usr/share/lintian/overrides/$pkg" <<-EOF
		# A Go program built with CGO_ENABLED=0, static on purpose: one binary for
		# Proxmox VE and plain QEMU hosts, without libvirt.
		$pkg: statically-linked-binary [usr/bin/vmcheck]
	EOF
fi

# RPM: units in /usr/lib, plain docs, the license where %license puts it.
rpm=$stage/rpm
stage_common "$rpm" /usr/lib/systemd/system /usr/share/zsh/site-functions "$doc"
install -m 0644 README.md docs/*.md "$rpm$doc/"
install -D -m 0644 LICENSE "$rpm/usr/share/licenses/$pkg/LICENSE"

# The conffile; hosts without libvirt check Proxmox VE's sockets by default.
if [ "$flavour" = nolibvirt ]; then
	sed 's|^#qemu_dir: /var/run/qemu-server$|qemu_dir: /var/run/qemu-server|' deploy/vmcheck.yml >"$stage/vmcheck.yml"
	grep -q '^qemu_dir:' "$stage/vmcheck.yml" || { echo "build.sh: no #qemu_dir line in deploy/vmcheck.yml" >&2; exit 1; }
else
	cp deploy/vmcheck.yml "$stage/vmcheck.yml"
fi
# The units' EnvironmentFile, the other conffile.
cp deploy/systemd/vmcheck.default "$stage/vmcheck.default"

find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
export VMCHECK_PKG=$pkg VMCHECK_VERSION=$VERSION VMCHECK_MAINTAINER=$MAINTAINER VMCHECK_STAGE=$stage \
	VMCHECK_CONFLICTS=$other VMCHECK_DEB_DEPENDS=$deb_depends VMCHECK_RPM_DEPENDS=$rpm_depends \
	VMCHECK_DESCRIPTION="$summary
vmcheck tells the operator of a KVM node, for every running VM, whether the
VM can reach its gateway and the outside world, seen from inside the guest:
it runs ping in each guest through the QEMU guest agent (guest-exec).

It runs as a one-shot check (also a Nagios/Icinga plugin), as a cron job
writing a node_exporter textfile, or as a Prometheus exporter with a status
page (vmcheck.service).

$flavour_text"
for format in deb rpm; do
	# shellcheck disable=SC2086 # NFPM is a command line
	$NFPM package --config deploy/package/nfpm.yaml --packager "$format" --target "$out/"
done
