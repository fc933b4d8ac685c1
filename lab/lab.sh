#!/usr/bin/env bash
# lab/lab.sh — a real, disposable libvirt/QEMU lab for vmcheck: 17 tiny TCG guests with
# a real qemu-ga (two with a hostile agent built from lab/hostile), on bridges inside
# network namespaces that the lab creates itself: Linux bridges, an Open vSwitch bridge
# (lab-ovs, plugged as OpenStack Nova plugs it) and a macvtap (lab-macvtap).
#
#   lab/lab.sh up [--guests demo|full|name1,name2,...]   (default: full)
#       Idempotent: starts only what is missing, restores the network faults, re-suspends
#       lab-paused and restarts a running guest whose agent should answer but does not
#       (frozen, or disconnected by libvirt after a reply over 10 MiB). Progress on
#       stderr; stdout gets exactly "VMCHECK_LAB_URI=<uri>"; $LAB_DIR/env is written.
#   lab/lab.sh down [--purge]      everything away; --purge also drops the cache
#   lab/lab.sh status
#   lab/lab.sh virsh ARGS...       virsh -c <lab uri> ARGS...
#   lab/lab.sh fault NAME [DOMAIN]
#       cut-outside | restore-outside | drop-gateway | restore-gateway |
#       freeze-agent DOM | thaw-agent DOM (a reset: the frozen agent cannot be reached) |
#       pause DOM | resume DOM | restart-libvirtd | destroy DOM | start DOM | reset DOM
#     faults by diagnosis cause (each with its undo; IFACE: eth0 by default, or eth1):
#       link-down | link-up DOM [IFACE]             host_link_down (virsh domif-setlink)
#       tap-unplug | tap-plug DOM [IFACE]           host_tap_down (tap out of its bridge)
#       guest-ifdown | guest-ifup DOM [IFACE]       guest_link_down (ip link set down)
#       guest-no-address DOM [IFACE]                guest_no_address (IPv4 addresses flushed)
#       guest-wrong-address DOM [IFACE]             guest_address_mismatch (.N -> .N+100)
#       guest-no-route DOM                          guest_no_default_route (IPv4 default route)
#       guest-restore DOM                           undo of every guest-* fault (aliases:
#                                                   guest-restore-address, guest-restore-route)
#       gateway-drop-icmp | gateway-allow-icmp      gateway_icmp_filtered (echo to the gateways dropped)
#       gateway-absent | gateway-present            gateway_unresolved (= drop-/restore-gateway)
#       upstream-cut | upstream-restore             upstream_unreachable (= cut-/restore-outside)
#       ovs-port-down | ovs-port-up DOM             host_ovs_port_down (ovs-ofctl mod-port BR TAP
#                                                   down: the port's admin and link state down)
#       ovs-port-detach | ovs-port-attach DOM       host_ovs_port_down (ovs-vsctl del-port; the
#                                                   attach adds it back with the same external_ids)
#       ovs-tap-vanish | ovs-tap-return DOM         host_ovs_port_down (the tap renamed away: a stale
#                                                   port, ofport -1, "could not open network device")
#       macvtap-lower-down | macvtap-lower-up [DOM] host_macvtap_lower_down (the macvtap's lower
#                                                   device, veth vcmvt0, down / up)
#     (up undoes the ovs-* and macvtap-lower-* faults of the guests it keeps running)
#     path faults for the in-guest probes (router vmcheck-lab <-> outside vmcheck-out; they
#     hit lab/qemu.sh's guests too; up and restore-outside undo them all):
#       mtu-blackhole | mtu-restore    uplink veth pair at MTU 1280 and the router's ICMP
#                                      frag-needed / ICMPv6 packet-too-big dropped: a
#                                      1500-byte DF packet to 203.0.113.10 vanishes, the
#                                      gateway and small packets still pass
#       dns-stop | dns-start           the guests' DNS server (dnsmasq, 203.0.113.53) stopped
#                                      / started: getent hosts exits 2
#       tcp-drop | tcp-allow           TCP to port 80 forwarded by the router dropped (curl
#                                      times out, exit 28); ICMP still passes
#       tcp-reject | tcp-allow         the same answered with a TCP reset (curl exit 7)
#       loss | loss-restore            50 % of the echo requests forwarded toward the outside
#                                      dropped at random (the gateways unaffected)
#   Outside services (vmcheck-out, started by up): DNS 203.0.113.53 (dnsmasq: www.example.test
#   -> 203.0.113.10 / 2001:db8:ff::10, NXDOMAIN for every other name), web server
#   http://203.0.113.10/ (busybox httpd, "vmcheck lab"). Guests: /etc/resolv.conf names
#   203.0.113.53; the debian role has glibc getent and curl, the busybox role neither.
#   (lab/capture.sh [DIR] records raw agent replies as test fixtures; see lab/README.md)
#
# Isolation: libvirtd and virtlogd run inside the network namespace "vmcheck-lab" and a
# private, persistent mount namespace ($LAB_DIR/ns/mnt) in which a tmpfs covers /run and
# folders of $LAB_DIR are bind-mounted over /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt, /var/log/libvirt and /etc/libvirt. The host's own libvirt files,
# sockets and pid files are never touched. Open vSwitch (ovsdb-server, ovs-vswitchd; the
# userspace datapath, this kernel has no openvswitch module) runs in the same namespaces
# with its database, sockets, pid files and logs in $LAB_DIR/ovs, bind-mounted over
# /run/openvswitch for libvirtd only; it is started when an OVS guest is wanted and
# stopped by pid by "down". Guest traffic never leaves the namespaces
# vmcheck-lab and vmcheck-out; only documentation address ranges are used.
#
# Environment: VMCHECK_LAB_DIR (default /var/tmp/vmcheck-lab),
#              VMCHECK_LAB_BOOT_TIMEOUT (seconds, default 300).
set -euo pipefail

LAB_DIR=${VMCHECK_LAB_DIR:-/var/tmp/vmcheck-lab}
LAB_DIR=${LAB_DIR%/}
BOOT_TIMEOUT=${VMCHECK_LAB_BOOT_TIMEOUT:-300}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
GUEST_SRC=$(dirname "$SELF")/guest
HOSTILE_SRC=$(dirname "$SELF")/hostile
REPO=$(dirname "$(dirname "$SELF")")
# The Go toolchain that builds the hostile agent (static, no cgo).
GO=${GO:-/usr/local/go/bin/go}

NS_LAB=vmcheck-lab
NS_OUT=vmcheck-out
BR_PUB=vcpub0
BR_INT=vcint0
UPLINK=vcup0
OUTLINK=vcout0
GW4=192.0.2.1
GW4_LEN=24
GW6=2001:db8:1::1
INT_GW4=198.51.100.1
UP4=203.0.113.1
UP6=2001:db8:ff::1
EXT4=203.0.113.10
EXT6=2001:db8:ff::10
# A "silent" outside host: its address answers ARP/ND but echo requests are dropped
# (iptables inside vmcheck-out), so pinging it is a plain timeout, no ICMP error.
SILENT4=203.0.113.20
SILENT6=2001:db8:ff::20
# Outside services in vmcheck-out: a DNS server (dnsmasq, the guests' only resolver, see
# /etc/resolv.conf in the image) that knows www.example.test and answers NXDOMAIN for
# every other name, and a web server (busybox httpd) on EXT4:80.
DNS4=203.0.113.53
WEB_NAME=www.example.test
# The MTU of the uplink veth pair under the fault mtu-blackhole (the guests keep 1500).
BLACKHOLE_MTU=1280
INTERNAL_NET=lab-internal
# Open vSwitch: the bridge the OVS guests are plugged into (a br-int of the lab), joined to
# $BR_PUB by the veth pair OVS_LINK (port of BR_OVS) <-> OVS_PEER (port of BR_PUB), so its
# guests share the gateway and the outside with the others.
BR_OVS=vcovs0
OVS_LINK=vcovsp0
OVS_PEER=vcovsb0
# macvtap: the lower device of the direct NICs, a veth whose peer is a port of BR_PUB.
MVT_LOWER=vcmvt0
MVT_PEER=vcmvtb0

SOCK=$LAB_DIR/run/libvirt/libvirt-sock
URI="qemu+unix:///system?socket=$SOCK"
NSDIR=$LAB_DIR/ns
MNTNS=$NSDIR/mnt
PIDDIR=$LAB_DIR/pid
CONSOLE=$LAB_DIR/console
XMLDIR=$LAB_DIR/xml
STATE=$LAB_DIR/state
CACHE=$LAB_DIR/cache
OVS_DIR=$LAB_DIR/ovs
OVSDB_SOCK=$OVS_DIR/db.sock
# Runtime state removed by "down" ("cache" survives unless --purge).
RUNTIME_DIRS=(run var etc pid console xml state ns www ovs)
WWW=$LAB_DIR/www

PKGS=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-guest-agent qemu-utils
	busybox-static cpio iputils-ping iproute2 iptables dnsmasq-base jq libc-bin curl
	openvswitch-switch ethtool)
# Host binaries copied into the image with their ldd libraries (guest/init puts them in
# place per role: glibc getent, curl and iproute2's ip only for the debian role).
GUEST_BINS=(/usr/sbin/qemu-ga /usr/bin/ping /usr/bin/getent /usr/bin/curl /usr/bin/ip)
# Load order of the guest kernel's modules (virtio is modular in Debian's kernel).
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_console failover net_failover virtio_net virtio-rng)
# Bump when the image layout changes in a way the input hash cannot see.
IMAGE_FORMAT=1
KERNEL_ARGS="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp"

# The guests. Columns: name number role agent channel nic0 nic1 gw4 gw6 rename post hostile
#   role    debian|busybox|windows|noping|flood|hostile (the image's personality, see guest/init)
#   agent   on|off|noexec (qemu-ga started / not / with guest-exec blocked; role hostile:
#           the hostile agent instead of qemu-ga)
#   channel yes|no (org.qemu.guest_agent.0 channel in the domain XML)
#   nic0    addresses on the public bridge; nic1: addresses on the internal network
#   rename  OLD,NEW interface rename in the guest; post: post-boot state
#   hostile bombs|slow: the hostile agent's mode (role hostile; see lab/hostile)
GUEST_TABLE='
lab-debian       11 debian  on     yes 192.0.2.11/24                 -                192.0.2.1   -             -             -       -
lab-busybox      12 busybox on     yes 192.0.2.12/24                 -                192.0.2.1   -             -             -       -
lab-windows      13 windows on     yes 192.0.2.13/24                 -                192.0.2.1   -             eth0,Ethernet -       -
lab-twonic       14 debian  on     yes 192.0.2.14/24                 198.51.100.14/24 192.0.2.1   -             -             -       -
lab-ipv6         15 debian  on     yes 192.0.2.15/24,2001:db8:1::15/64 -              -           2001:db8:1::1 -             -       -
lab-nochannel    16 debian  on     no  192.0.2.16/24                 -                192.0.2.1   -             -             -       -
lab-noagent      17 debian  off    yes 192.0.2.17/24                 -                192.0.2.1   -             -             -       -
lab-noexec       18 debian  noexec yes 192.0.2.18/24                 -                192.0.2.1   -             -             -       -
lab-freeze       19 debian  on     yes 192.0.2.19/24                 -                192.0.2.1   -             -             -       -
lab-noping       20 noping  on     yes 192.0.2.20/24                 -                192.0.2.1   -             -             -       -
lab-badgw        21 debian  on     yes 192.0.2.21/24                 -                192.0.2.254 -             -             -       -
lab-paused       22 debian  on     yes 192.0.2.22/24                 -                192.0.2.1   -             -             suspend -
lab-flood        23 flood   on     yes 192.0.2.23/24                 -                192.0.2.1   -             -             -       -
lab-hostile      24 hostile on     yes 192.0.2.24/24                 -                192.0.2.1   -             -             -       bombs
lab-hostile-slow 25 hostile on     yes 192.0.2.25/24                 -                192.0.2.1   -             -             -       slow
lab-ovs          26 debian  on     yes 192.0.2.26/24                 -                192.0.2.1   -             -             -       -
lab-macvtap      27 debian  on     yes 192.0.2.27/24                 -                192.0.2.1   -             -             -       -
'
DEMO_GUESTS=(lab-debian lab-windows lab-badgw lab-noexec)
# Guests that OpenStack Nova "created": <nova:instance> metadata with its ports (the port
# uuid below, the NIC's fixed addresses) and the tap named as Nova names it, "tap" + the
# first 11 characters of the port uuid.
declare -A NOVA_PORT=([lab-busybox]=5c0c0012-0a0b-4c0d-8e0f-000000000012
	[lab-ovs]=5c0c0026-0a0b-4c0d-8e0f-000000000026)
# The kind of a guest's first NIC when it is not a Linux bridge port: ovs (type='bridge' with
# <virtualport type='openvswitch'> on BR_OVS, its interfaceid the Nova port, as Nova plugs
# it) or macvtap (type='direct' on MVT_LOWER, mode bridge).
declare -A NIC_KIND=([lab-ovs]=ovs [lab-macvtap]=macvtap)

ALL_GUESTS=()
declare -A G_NUM G_ROLE G_AGENT G_CHAN G_NIC0 G_NIC1 G_GW4 G_GW6 G_RENAME G_POST G_HOSTILE
while read -r n num role agent chan nic0 nic1 gw4 gw6 rename post hostile; do
	[ -n "${n:-}" ] || continue
	ALL_GUESTS+=("$n")
	G_NUM[$n]=$num G_ROLE[$n]=$role G_AGENT[$n]=$agent G_CHAN[$n]=$chan
	G_NIC0[$n]=$nic0 G_NIC1[$n]=$nic1 G_GW4[$n]=$gw4 G_GW6[$n]=$gw6
	G_RENAME[$n]=$rename G_POST[$n]=$post G_HOSTILE[$n]=$hostile
done <<<"$GUEST_TABLE"

say() { printf '[lab] %s\n' "$*" >&2; }
die() {
	printf '[lab] error: %s\n' "$*" >&2
	exit 1
}
V() { timeout 60 virsh -q -c "$URI" "$@"; }
lab_ip() { ip -n "$NS_LAB" "$@"; }
out_ip() { ip -n "$NS_OUT" "$@"; }
in_lab() { nsenter --net="/run/netns/$NS_LAB" -- "$@"; }
in_out() { nsenter --net="/run/netns/$NS_OUT" -- "$@"; }
netns_exists() { [ -e "/run/netns/$1" ]; }
# A name whose /run/netns file is not a live namespace (e.g. after a reboot) is dropped.
netns_ensure() {
	if netns_exists "$1" && ! mountpoint -q "/run/netns/$1"; then ip netns del "$1" 2>/dev/null || rm -f "/run/netns/$1"; fi
	netns_exists "$1" || ip netns add "$1"
}
is_guest() { [ -n "${G_NUM[$1]:-}" ]; }
wants_agent() { [ "${G_CHAN[$1]}" = yes ] && [ "${G_AGENT[$1]}" != off ]; }

check_lab_dir() {
	case $LAB_DIR in
	/ | /tmp | /var/tmp | /var | /root | /home | /etc | /usr | /run) die "refusing VMCHECK_LAB_DIR=$LAB_DIR" ;;
	/?*) ;;
	*) die "VMCHECK_LAB_DIR must be an absolute path" ;;
	esac
	[[ $LAB_DIR =~ ^/[A-Za-z0-9._/-]+$ ]] || die "VMCHECK_LAB_DIR may only hold [A-Za-z0-9._/-]"
	[ "$(id -u)" = 0 ] || die "the lab needs root"
}

# The lab dir carries a marker so that "down --purge" never removes a foreign folder.
prepare_dir() {
	if [ -e "$LAB_DIR" ] && [ ! -e "$LAB_DIR/.vmcheck-lab" ] && [ -n "$(ls -A "$LAB_DIR")" ]; then
		die "$LAB_DIR exists and is not a vmcheck lab dir"
	fi
	mkdir -p "$LAB_DIR"
	touch "$LAB_DIR/.vmcheck-lab"
}

lock() {
	exec 9>"$LAB_DIR/.lock"
	flock -w 900 9 || die "another lab.sh holds $LAB_DIR/.lock"
}

# ---------------------------------------------------------------- packages, kernel, image

ensure_packages() {
	local need=() p
	for p in "${PKGS[@]}"; do
		case $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true) in
		ii*) ;;
		*) need+=("$p") ;;
		esac
	done
	[ ${#need[@]} -gt 0 ] || return 0
	say "installing packages: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

resolve_kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ && !done { print $2; done = 1 }'
}

# Sets KPKG, KERNEL, KMODS.
ensure_kernel() {
	local kdir=$CACHE/kernel deb tmp m f
	mkdir -p "$kdir"
	KPKG=$(resolve_kernel_pkg)
	if [ -z "$KPKG" ]; then
		say "apt-cache does not know linux-image-amd64: apt-get update"
		apt-get update -qq >&2 || true
		KPKG=$(resolve_kernel_pkg)
	fi
	if [ -z "$KPKG" ]; then
		# Offline: use the newest kernel already in the cache.
		KPKG=$(find "$kdir" -mindepth 2 -maxdepth 2 -name .done -printf '%h\n' 2>/dev/null |
			sed 's#.*/##' | sort -V | tail -n 1)
		[ -n "$KPKG" ] || die "cannot resolve the Debian kernel package (apt-cache depends linux-image-amd64)"
		say "using cached kernel $KPKG (apt metadata unavailable)"
	fi
	KMODS=$kdir/$KPKG/modules
	# ("cache/kernel/<pkg>/.done" + vmlinuz is also what lab/qemu.sh looks for)
	if [ -e "$kdir/$KPKG/.done" ]; then
		ensure_pvh_kernel "$kdir/$KPKG" "$kdir"
		return 0
	fi
	deb=$(find "$kdir" -maxdepth 1 -name "${KPKG}_*.deb" -print -quit)
	if [ -z "$deb" ]; then
		say "downloading kernel package $KPKG"
		# (apt warns that root downloads "unsandboxed": harmless, filtered)
		(cd "$kdir" && apt-get download -q "$KPKG" 2>&1) | grep -v unsandboxed >&2 || true
		deb=$(find "$kdir" -maxdepth 1 -name "${KPKG}_*.deb" -print -quit)
		[ -n "$deb" ] || die "apt-get download $KPKG produced no .deb"
	fi
	say "extracting kernel and virtio modules from ${deb##*/}"
	tmp=$kdir/$KPKG.tmp
	rm -rf "$tmp" "${kdir:?}/$KPKG"
	mkdir -p "$tmp/x" "$tmp/modules"
	# Only the kernel and the few modules the guests need (the full tree is ~400 MB).
	local pats=('*/boot/vmlinuz-*' '*/boot/config-*')
	for m in "${MODULES[@]}"; do pats+=("*/modules/*/$m.ko*"); done
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards "${pats[@]}"
	f=$(find "$tmp/x" -path '*/boot/vmlinuz-*' -print -quit)
	[ -n "$f" ] || die "no vmlinuz in $deb"
	mv "$f" "$tmp/vmlinuz"
	f=$(find "$tmp/x" -path '*/boot/config-*' -print -quit)
	[ -z "$f" ] || mv "$f" "$tmp/config"
	for m in "${MODULES[@]}"; do
		f=$(find "$tmp/x" -name "$m.ko*" -print -quit)
		[ -n "$f" ] || die "module $m not found in $deb"
		case $f in
		*.ko) cp "$f" "$tmp/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$f" >"$tmp/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$tmp/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$tmp/modules/$m.ko" ;;
		*) die "unknown module format $f" ;;
		esac
	done
	rm -rf "$tmp/x"
	touch "$tmp/.done"
	mv "$tmp" "$kdir/$KPKG"
	ensure_pvh_kernel "$kdir/$KPKG" "$kdir"
}

# Sets KERNEL: the PVH-bootable vmlinux (extracted once) when possible, else the bzImage.
ensure_pvh_kernel() {
	local d=$1 kdir=$2 deb
	if [ ! -e "$d/.pvh-tried" ]; then
		if [ ! -e "$d/config" ]; then
			deb=$(find "$kdir" -maxdepth 1 -name "${d##*/}_*.deb" -print -quit)
			[ -z "$deb" ] || dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*/boot/config-*' >"$d/config" || true
		fi
		extract_vmlinux "$d"
		touch "$d/.pvh-tried"
	fi
	KERNEL=$d/vmlinuz
	[ ! -s "$d/vmlinux" ] || KERNEL=$d/vmlinux
}

# The uncompressed ELF vmlinux boots through QEMU's PVH entry and skips the bzImage's
# XZ decompression, which costs ~1.6 s of TCG time per guest boot (CONFIG_PVH=y).
extract_vmlinux() {
	local d=$1 magic off
	grep -q '^CONFIG_PVH=y' "$d/config" 2>/dev/null || return 0
	for magic in xz:'\xfd7zXZ\x00' zstd:'\x28\xb5\x2f\xfd' gzip:'\x1f\x8b\x08'; do
		off=$(LC_ALL=C grep -obUaP "${magic#*:}" "$d/vmlinuz" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
		[ -n "$off" ] || continue
		tail -c +$((off + 1)) "$d/vmlinuz" | "${magic%%:*}" -dcq >"$d/vmlinux.tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$d/vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			mv "$d/vmlinux.tmp" "$d/vmlinux"
			return 0
		fi
	done
	rm -f "$d/vmlinux.tmp"
}

# Shared libraries of a dynamic executable, loader included.
libs_of() {
	ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# Builds the hostile guest agent (lab/hostile, pure Go) as a static binary at $1.
build_hostile() {
	[ -x "$GO" ] || GO=$(command -v go) || die "no Go toolchain (set GO=/path/to/go) to build lab/hostile"
	(cd "$REPO" && env HOME="${HOME:-/root}" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
		"$GO" build -trimpath -buildvcs=false -ldflags=-s -o "$1" ./lab/hostile) >&2 ||
		die "building lab/hostile failed"
}

# Sets INITRD. Rebuilds only when the hash of all inputs changed (the hostile agent's
# sources and the Go version included).
ensure_image() {
	local idir=$CACHE/image st hash f a goversion inputs=()
	mkdir -p "$idir"
	INITRD=$idir/initrd.gz
	for f in "${GUEST_BINS[@]}"; do [ -x "$f" ] || die "$f missing on the host"; done
	inputs=(/bin/busybox "${GUEST_BINS[@]}" "$SELF" "$GUEST_SRC"/* "$HOSTILE_SRC"/*.go "$REPO/go.mod")
	mapfile -t -O ${#inputs[@]} inputs < <(for f in "${GUEST_BINS[@]}"; do libs_of "$f"; done)
	inputs+=("$KMODS"/*.ko)
	goversion=$({ [ -x "$GO" ] && "$GO" version; } || go version 2>/dev/null || echo none)
	hash=$({
		echo "format=$IMAGE_FORMAT kernel=$KPKG go=$goversion"
		sha256sum "${inputs[@]}" | awk '{ print $1 }'
	} | sha256sum | cut -c1-32)
	if [ -s "$INITRD" ] && [ "$(cat "$idir/initrd.hash" 2>/dev/null)" = "$hash" ]; then
		return 0
	fi
	say "building guest image (initramfs ${hash:0:12})"
	/bin/busybox --help >/dev/null 2>&1 || die "/bin/busybox missing (busybox-static)"
	ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is not static (install busybox-static)"
	st=$idir/staging
	rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/lib,lib/modules/vmcheck,lib64,etc,dev,proc,sys,run,tmp,root}
	mkdir -p "$st/opt/vmcheck/windows"
	cp /bin/busybox "$st/bin/busybox"
	for a in $(/bin/busybox --list); do
		# (getent and curl: glibc's and the real curl, per role; no busybox applet may
		# stand in for them, e.g. in the busybox role that lacks them)
		case $a in busybox | ping | ping6 | getent | curl) continue ;; esac
		ln -s busybox "$st/bin/$a"
	done
	cp /usr/sbin/qemu-ga "$st/usr/sbin/qemu-ga"
	cp /usr/bin/ping "$st/opt/vmcheck/iputils-ping"
	cp /usr/bin/getent "$st/opt/vmcheck/getent"
	cp /usr/bin/curl "$st/opt/vmcheck/curl"
	cp /usr/bin/ip "$st/opt/vmcheck/iproute2-ip"
	# Libraries only getent/curl/iproute2's ip need (~19 MB) wait under /opt/vmcheck/probe-libs: guest/init
	# installs them with the tools and drops them otherwise (RAM of every guest).
	local -A base=()
	while read -r f; do base[$f]=1; done < <(libs_of /usr/sbin/qemu-ga; libs_of /usr/bin/ping)
	while read -r f; do
		a=$st
		[ -n "${base[$f]:-}" ] || a=$st/opt/vmcheck/probe-libs
		mkdir -p "$a$(dirname "$f")"
		cp -L "$f" "$a$f"
	done < <(for f in "${GUEST_BINS[@]}"; do libs_of "$f"; done | sort -u)
	cp "$KMODS"/*.ko "$st/lib/modules/vmcheck/"
	install -m 0755 "$GUEST_SRC/init" "$st/init"
	install -m 0644 "$GUEST_SRC/os-release.debian" "$GUEST_SRC/os-release.windows" "$st/opt/vmcheck/"
	install -m 0755 "$GUEST_SRC/cmd.exe" "$GUEST_SRC/ping.exe" "$GUEST_SRC/route.exe" "$st/opt/vmcheck/windows/"
	install -m 0755 "$GUEST_SRC/flood-ping" "$st/opt/vmcheck/flood-ping"
	build_hostile "$st/opt/vmcheck/hostile"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$st/etc/passwd"
	echo 'root:x:0:' >"$st/etc/group"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$st/etc/hosts"
	# glibc name resolution (getent, curl): files, then the lab's dnsmasq in vmcheck-out;
	# one 1 s try, so a dead resolver fails within ~2 s.
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$st/etc/nsswitch.conf"
	printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS4" >"$st/etc/resolv.conf"
	mknod -m 600 "$st/dev/console" c 5 1
	mknod -m 666 "$st/dev/null" c 1 3
	(cd "$st" && find . -print | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	echo "$hash" >"$idir/initrd.hash"
	rm -rf "$st"
}

# ---------------------------------------------------------------- network

ensure_network() {
	netns_ensure "$NS_LAB"
	netns_ensure "$NS_OUT"
	lab_ip link set lo up
	out_ip link set lo up
	# New devices inherit "default": keep IPv6 addresses on link down, no DAD delay.
	# arp_ignore 1: only the interface that holds an address answers ARP for it. The veth
	# ends of the macvtap's lower device and of the OVS link (and OVS's own port) see every
	# broadcast of $BR_PUB; answering for the gateway there with their own MACs ("ARP flux")
	# made a guest's entry for its gateway change MAC under a test's feet.
	in_lab sysctl -q -w net.ipv4.conf.all.arp_ignore=1
	in_lab sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.default.keep_addr_on_down=1 net.ipv6.conf.all.keep_addr_on_down=1 \
		net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0 >/dev/null
	in_out sysctl -q -w net.ipv6.conf.default.keep_addr_on_down=1 net.ipv6.conf.all.keep_addr_on_down=1 \
		net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0 >/dev/null

	if ! lab_ip link show "$BR_PUB" >/dev/null 2>&1; then
		lab_ip link add "$BR_PUB" type bridge stp_state 0 forward_delay 0
		lab_ip link set "$BR_PUB" address 52:54:00:0c:ff:01
	fi
	lab_ip addr replace "$GW4/$GW4_LEN" dev "$BR_PUB"
	lab_ip addr replace "$GW6/64" dev "$BR_PUB" nodad
	lab_ip link set "$BR_PUB" up

	if lab_ip link show "$UPLINK" >/dev/null 2>&1 && ! out_ip link show "$OUTLINK" >/dev/null 2>&1; then
		lab_ip link del "$UPLINK"
	fi
	if ! lab_ip link show "$UPLINK" >/dev/null 2>&1; then
		out_ip link del "$OUTLINK" 2>/dev/null || true
		lab_ip link add "$UPLINK" type veth peer name "$OUTLINK" netns "$NS_OUT"
	fi
	lab_ip addr replace "$UP4/24" dev "$UPLINK"
	lab_ip addr replace "$UP6/64" dev "$UPLINK" nodad
	out_ip addr replace "$EXT4/24" dev "$OUTLINK"
	out_ip addr replace "$EXT6/64" dev "$OUTLINK" nodad
	lab_ip link set "$UPLINK" up
	out_ip link set "$OUTLINK" up
	out_ip route replace default via "$UP4" dev "$OUTLINK"
	out_ip -6 route replace default via "$UP6" dev "$OUTLINK"
	out_ip addr replace "$SILENT4/24" dev "$OUTLINK"
	out_ip addr replace "$SILENT6/64" dev "$OUTLINK" nodad
	in_out iptables -w -C INPUT -d "$SILENT4" -p icmp --icmp-type echo-request -j DROP 2>/dev/null ||
		in_out iptables -w -A INPUT -d "$SILENT4" -p icmp --icmp-type echo-request -j DROP ||
		say "warning: iptables in $NS_OUT failed: $SILENT4 will answer pings"
	in_out ip6tables -w -C INPUT -d "$SILENT6" -p ipv6-icmp --icmpv6-type echo-request -j DROP 2>/dev/null ||
		in_out ip6tables -w -A INPUT -d "$SILENT6" -p ipv6-icmp --icmpv6-type echo-request -j DROP ||
		say "warning: ip6tables in $NS_OUT failed: $SILENT6 will answer pings"
	gateway_icmp allow
	# The no-fault state of the path faults (mtu-blackhole, tcp-*, loss) and the outside
	# services (dns-stop).
	path_fault mtu-restore
	path_fault tcp-allow
	path_fault loss-restore
	ensure_outside_services
}

# ip[6]tables rules in the lab namespace: rule_add / rule_del IPT ARGS... (idempotent;
# rule_del removes every copy).
rule_add() {
	local ipt=$1
	shift
	in_lab "$ipt" -w -C "$@" 2>/dev/null || in_lab "$ipt" -w -I "$@"
}
rule_del() {
	local ipt=$1
	shift
	while in_lab "$ipt" -w -D "$@" 2>/dev/null; do :; done
}

# path_fault NAME: the faults between the lab's router and the outside (all in the lab
# namespace, so they apply to lab/qemu.sh's guests too); each undo is idempotent.
#   mtu-blackhole  uplink veth pair at MTU $BLACKHOLE_MTU and the router's ICMP
#                  "fragmentation needed" / ICMPv6 "packet too big" dropped (OUTPUT)
#   tcp-drop       TCP to port 80 forwarded by the router dropped (a timeout)
#   tcp-reject     the same answered with a TCP reset (connection refused)
#   loss           50 % of the echo requests forwarded toward the outside dropped
path_fault() {
	local mtu=1500 a
	local ptb4=(OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP)
	local ptb6=(OUTPUT -p ipv6-icmp --icmpv6-type packet-too-big -j DROP)
	local drop=(FORWARD -p tcp --dport 80 -j DROP)
	local reject=(FORWARD -p tcp --dport 80 -j REJECT --reject-with tcp-reset)
	local loss4=(FORWARD -p icmp --icmp-type echo-request -m statistic --mode random --probability 0.5 -j DROP)
	local loss6=(FORWARD -p ipv6-icmp --icmpv6-type echo-request -m statistic --mode random --probability 0.5 -j DROP)
	case $1 in
	mtu-blackhole | mtu-restore)
		[ "$1" = mtu-restore ] || mtu=$BLACKHOLE_MTU
		lab_ip link set "$UPLINK" mtu "$mtu"
		out_ip link set "$OUTLINK" mtu "$mtu"
		if [ "$1" = mtu-blackhole ]; then
			rule_add iptables "${ptb4[@]}"
			rule_add ip6tables "${ptb6[@]}"
		else
			rule_del iptables "${ptb4[@]}"
			rule_del ip6tables "${ptb6[@]}"
		fi
		;;
	tcp-drop | tcp-reject | tcp-allow)
		for a in iptables ip6tables; do
			case $1 in
			tcp-drop) rule_del "$a" "${reject[@]}" && rule_add "$a" "${drop[@]}" ;;
			tcp-reject) rule_del "$a" "${drop[@]}" && rule_add "$a" "${reject[@]}" ;;
			*) rule_del "$a" "${drop[@]}" && rule_del "$a" "${reject[@]}" ;;
			esac
		done
		;;
	loss)
		rule_add iptables "${loss4[@]}"
		rule_add ip6tables "${loss6[@]}"
		;;
	loss-restore)
		rule_del iptables "${loss4[@]}"
		rule_del ip6tables "${loss6[@]}"
		;;
	*) die "path_fault: unknown $1" ;;
	esac
}

# The pid of an outside service (dnsmasq | httpd) if its pid file names a live process of
# ours: its command name and a command line that carries this lab's pid file / folder.
out_pid() {
	local pid mark comm=$1
	pid=$(cat "$PIDDIR/$1-out.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	mark="--pid-file=$PIDDIR/dnsmasq-out.pid"
	if [ "$1" = httpd ]; then comm=busybox mark="$WWW"; fi
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" || return 1
	echo "$pid"
}

# An outside service of ours that runs in the current vmcheck-out (one left in an older
# namespace, after the namespace was recreated, is stopped).
out_live() {
	local pid
	pid=$(out_pid "$1") || return 1
	[ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/$NS_OUT" 2>/dev/null)" ] && return 0
	say "stopping $1 ($pid): it runs in an older $NS_OUT"
	stop_out_service "$1"
	return 1
}

start_dnsmasq() {
	local pid
	out_live dnsmasq && return 0
	rm -f "$PIDDIR/dnsmasq-out.pid"
	# (daemon mode: dnsmasq returns once it listens; --user=root: no privilege drop,
	# no dnsmasq user needed; --address=/#/: NXDOMAIN for every other name, at once)
	in_out env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin dnsmasq --conf-file=/dev/null \
		--no-resolv --no-hosts --no-poll --bind-interfaces --listen-address="$DNS4" \
		--address="/$WEB_NAME/$EXT4" --address="/$WEB_NAME/$EXT6" --address=/#/ \
		--user=root --group=root --pid-file="$PIDDIR/dnsmasq-out.pid" 9>&- </dev/null >&2 ||
		die "dnsmasq in $NS_OUT did not start"
	for _ in $(seq 1 50); do
		pid=$(out_pid dnsmasq) && return 0
		sleep 0.1
	done
	die "dnsmasq in $NS_OUT did not start (no live pid in $PIDDIR/dnsmasq-out.pid)"
}

stop_out_service() {
	local pid
	if pid=$(out_pid "$1"); then
		stop_pid "$pid" "$1"
	fi
	rm -f "$PIDDIR/$1-out.pid"
}

# dnsmasq on $DNS4 and busybox httpd on $EXT4:80 in vmcheck-out (idempotent).
ensure_outside_services() {
	local pid
	mkdir -p "$PIDDIR" "$WWW"
	out_ip addr replace "$DNS4/24" dev "$OUTLINK"
	start_dnsmasq
	printf '<!doctype html>\n<title>vmcheck lab</title>\n<p>vmcheck lab</p>\n' >"$WWW/index.html"
	out_live httpd && return 0
	# (a simple command, not the in_out function: nsenter and setsid exec, so $! is
	# httpd's pid)
	nsenter --net="/run/netns/$NS_OUT" -- setsid /bin/busybox httpd -f -p "$EXT4:80" -h "$WWW" \
		9>&- </dev/null >/dev/null 2>&1 &
	echo "$!" >"$PIDDIR/httpd-out.pid"
	for _ in $(seq 1 50); do
		pid=$(out_pid httpd) && [ -n "$(in_out ss -Hltn "src $EXT4:80")" ] && return 0
		sleep 0.1
	done
	die "busybox httpd on $EXT4:80 in $NS_OUT did not start"
}

# gateway_icmp drop|allow: echo requests to the public gateway addresses dropped in the lab
# namespace (ARP/ND untouched): the gateway resolves but does not answer pings.
gateway_icmp() {
	local ipt gw proto typ args
	for ipt in iptables ip6tables; do
		gw=$GW4 proto=icmp typ=--icmp-type
		[ "$ipt" = iptables ] || gw=$GW6 proto=ipv6-icmp typ=--icmpv6-type
		args=(INPUT -d "$gw" -p "$proto" "$typ" echo-request -j DROP)
		if [ "$1" = drop ]; then
			in_lab "$ipt" -w -C "${args[@]}" 2>/dev/null || in_lab "$ipt" -w -I "${args[@]}"
		else
			while in_lab "$ipt" -w -D "${args[@]}" 2>/dev/null; do :; done
		fi
	done
}

# Fallback when libvirt's network driver cannot run lab-internal: a plain bridge.
ensure_plain_internal_bridge() {
	if ! lab_ip link show "$BR_INT" >/dev/null 2>&1; then
		lab_ip link add "$BR_INT" type bridge stp_state 0 forward_delay 0
		lab_ip link set "$BR_INT" address 52:54:00:0c:ff:02
	fi
	lab_ip addr replace "$INT_GW4/24" dev "$BR_INT"
	lab_ip link set "$BR_INT" up
	echo bridge >"$STATE/internal-mode"
}

# DHCP host entries of the internal network: each guest's second NIC and its address (the
# platform's assignment vmcheck reads; the guests themselves configure it statically).
internal_dhcp_hosts() {
	local n
	for n in "${ALL_GUESTS[@]}"; do
		[ "${G_NIC1[$n]}" != - ] || continue
		echo "      <host mac='52:54:00:0c:01:${G_NUM[$n]}' ip='$(first_addr4 "${G_NIC1[$n]}")'/>"
	done
}

# The first IPv4 address (without its length) of a comma-separated address list.
first_addr4() {
	local a
	for a in ${1//,/ }; do
		case $a in *:*) ;; *) echo "${a%/*}" && return 0 ;; esac
	done
}

ensure_internal_net() {
	local err
	mkdir -p "$XMLDIR"
	if [ "$(cat "$STATE/internal-mode" 2>/dev/null)" = bridge ]; then
		ensure_plain_internal_bridge
		return
	fi
	cat >"$XMLDIR/$INTERNAL_NET.xml" <<EOF
<network>
  <name>$INTERNAL_NET</name>
  <bridge name='$BR_INT' stp='off' delay='0'/>
  <mac address='52:54:00:0c:ff:02'/>
  <dns enable='no'/>
  <ip address='$INT_GW4' prefix='24'>
    <dhcp>
$(internal_dhcp_hosts)
    </dhcp>
  </ip>
</network>
EOF
	# (no "virsh | grep -q" under pipefail: grep's early exit would fail the pipeline)
	if [[ $(V net-info "$INTERNAL_NET" 2>/dev/null || true) =~ Active:\ +yes ]]; then
		echo network >"$STATE/internal-mode"
		return
	fi
	V net-info "$INTERNAL_NET" >/dev/null 2>&1 || V net-define "$XMLDIR/$INTERNAL_NET.xml" >/dev/null
	if err=$(V net-start "$INTERNAL_NET" 2>&1) || [[ $err == *"already active"* ]]; then
		echo network >"$STATE/internal-mode"
		return
	fi
	say "libvirt network $INTERNAL_NET failed to start ($err); falling back to a plain bridge $BR_INT"
	V net-undefine "$INTERNAL_NET" >/dev/null 2>&1 || true
	ensure_plain_internal_bridge
}

# ---------------------------------------------------------------- namespaces and daemons

mntns_id() { [ -e "$MNTNS" ] && mountpoint -q "$MNTNS" && echo "mnt:[$(stat -L -c %i "$MNTNS")]"; }
netns_ino() { stat -L -c %i "/run/netns/$NS_LAB" 2>/dev/null; }

# Persistent private mount namespace (bound on $LAB_DIR/ns/mnt) seeing the lab netns's
# sysfs, a private /run, and the lab's libvirt folders.
ensure_mountns() {
	if [ -n "$(mntns_id)" ]; then
		[ "$(cat "$STATE/mntns-netns" 2>/dev/null)" = "$(netns_ino)" ] && return 0
		# The lab netns was recreated under the mount namespace's feet: rebuild it
		# (only possible when no daemon lives in it any more).
		daemon_pid libvirtd >/dev/null || daemon_pid virtlogd >/dev/null ||
			{ busybox umount "$MNTNS" && rm -f "$MNTNS"; }
		[ -z "$(mntns_id)" ] || die "mount namespace belongs to an old $NS_LAB; run down first"
	fi
	# (var/lib/libvirt/dnsmasq normally comes with the package; the network driver needs it)
	mkdir -p "$NSDIR" "$LAB_DIR/run/libvirt" "$LAB_DIR/var/lib/libvirt/dnsmasq" "$LAB_DIR/var/cache/libvirt" \
		"$LAB_DIR/var/log/libvirt" "$PIDDIR" "$CONSOLE"
	# busybox mount/umount: util-linux's libmount would leave lock/utab files in the
	# host's /run/mount.
	mountpoint -q "$NSDIR" || busybox mount --bind "$NSDIR" "$NSDIR"
	busybox mount --make-private "$NSDIR"
	rm -f "$MNTNS"
	touch "$MNTNS"
	prepare_libvirt_etc
	local d
	for d in /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt; do
		[ -d "$d" ] || die "$d missing on the host (libvirt not installed?)"
	done
	# shellcheck disable=SC2016 # $L expands inside the namespace's shell
	unshare --mount="$MNTNS" --propagation private -- \
		nsenter --net="/run/netns/$NS_LAB" -- env L="$LAB_DIR" /bin/sh -ec '
			m() { busybox mount "$@"; }
			m -t tmpfs -o mode=0755,size=64m vmcheck-lab-run /run
			mkdir -p /run/libvirt /run/lock
			m --bind "$L/run/libvirt" /run/libvirt
			m --bind "$L/var/lib/libvirt" /var/lib/libvirt
			m --bind "$L/var/cache/libvirt" /var/cache/libvirt
			m --bind "$L/var/log/libvirt" /var/log/libvirt
			m --bind "$L/etc/libvirt" /etc/libvirt
			m -t sysfs vmcheck-lab-sys /sys
		' 9>&-
	netns_ino >"$STATE/mntns-netns"
}

# The lab's /etc/libvirt: the host's *.conf files (no domain/network definitions), with
# QEMU run as root without a security driver, cgroups or per-VM namespaces.
prepare_libvirt_etc() {
	local e=$LAB_DIR/etc/libvirt
	rm -rf "$e"
	mkdir -p "$e/qemu/networks/autostart" "$e/storage" "$e/nwfilter" "$e/secrets" "$e/hooks"
	cp /etc/libvirt/*.conf "$e/"
	cat >>"$e/qemu.conf" <<'EOF'

# --- vmcheck lab ---
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
	cat >>"$e/libvirtd.conf" <<'EOF'

# --- vmcheck lab ---
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
	cat >>"$e/virtlogd.conf" <<'EOF'

# --- vmcheck lab ---
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
}

# Prints the pid of a lab daemon if its pid file names a live process of that name that
# lives in the lab's mount namespace.
daemon_pid() {
	local pid id
	pid=$(cat "$PIDDIR/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
	id=$(mntns_id) || return 1
	[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$id" ] || return 1
	echo "$pid"
}

start_daemon() {
	local name=$1
	rm -f "$PIDDIR/$name.pid"
	nsenter --mount="$MNTNS" --net="/run/netns/$NS_LAB" -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
		"$name" -d -p "$PIDDIR/$name.pid" 9>&- </dev/null >&2
	for _ in $(seq 1 100); do
		daemon_pid "$name" >/dev/null && return 0
		sleep 0.1
	done
	die "$name did not start (see $LAB_DIR/var/log/libvirt/$name.log)"
}

wait_libvirtd_ready() {
	for _ in $(seq 1 150); do
		V version >/dev/null 2>&1 && return 0
		daemon_pid libvirtd >/dev/null || die "libvirtd died (see $LAB_DIR/var/log/libvirt/libvirtd.log)"
		sleep 0.2
	done
	die "libvirtd does not answer on $SOCK"
}

ensure_daemons() {
	local started=
	if ! daemon_pid virtlogd >/dev/null; then
		say "starting virtlogd"
		start_daemon virtlogd
	fi
	if ! daemon_pid libvirtd >/dev/null; then
		say "starting libvirtd"
		start_daemon libvirtd
		started=1
	fi
	wait_libvirtd_ready
	[ -z "$started" ] || say "libvirtd $(daemon_pid libvirtd) ready at $URI"
}

# Stops a process we started, by pid: TERM, then KILL after a grace period.
stop_pid() {
	local pid=$1 name=$2
	[ -d "/proc/$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	say "$name ($pid) ignores SIGTERM: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
}

# ---------------------------------------------------------------- Open vSwitch and macvtap

# The guests among the arguments whose first NIC is of the kind (bridge, ovs, macvtap).
guests_of_kind() {
	local kind=$1 n
	shift
	for n in "$@"; do
		[ "${NIC_KIND[$n]:-bridge}" != "$kind" ] || echo "$n"
	done
	return 0
}

# ovs-vsctl / ovs-ofctl on the lab's OVS only: its database socket, and its run dir for the
# bridges' OpenFlow management sockets ($OVS_DIR/BR.mgmt). Bounded: no call hangs.
vsctl() { timeout 30 env OVS_RUNDIR="$OVS_DIR" ovs-vsctl --db="unix:$OVSDB_SOCK" --timeout=20 "$@"; }
ofctl() { timeout 30 env OVS_RUNDIR="$OVS_DIR" ovs-ofctl --timeout=20 "$@"; }

# The pid of a lab OVS daemon (ovsdb-server | ovs-vswitchd) if its pid file names a live
# process of that name in the lab's mount namespace.
ovs_pid() {
	local pid id
	pid=$(cat "$OVS_DIR/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
	id=$(mntns_id) || return 1
	[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$id" ] || return 1
	echo "$pid"
}

# Starts an OVS daemon (detached) in the lab's namespaces with every file in OVS_DIR.
start_ovs_daemon() {
	local name=$1
	shift
	rm -f "$OVS_DIR/$name.pid"
	nsenter --mount="$MNTNS" --net="/run/netns/$NS_LAB" -- \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C OVS_RUNDIR="$OVS_DIR" \
		OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" OVS_SYSCONFDIR="$OVS_DIR" \
		"$name" "$@" -vconsole:off --pidfile="$OVS_DIR/$name.pid" --log-file="$OVS_DIR/$name.log" \
		--unixctl="$OVS_DIR/$name.ctl" --no-chdir --detach 9>&- </dev/null >&2 ||
		die "$name did not start (see $OVS_DIR/$name.log)"
	for _ in $(seq 1 100); do
		ovs_pid "$name" >/dev/null && return 0
		sleep 0.1
	done
	die "$name did not start (see $OVS_DIR/$name.log)"
}

# Open vSwitch in the lab (idempotent): ovsdb-server and ovs-vswitchd, the bridge BR_OVS
# (userspace datapath) and its veth link to BR_PUB. libvirtd, in the lab's mount namespace,
# finds the database at /run/openvswitch/db.sock (OVS_DIR bind-mounted there).
ensure_ovs() {
	local started=
	mkdir -p "$OVS_DIR"
	# shellcheck disable=SC2016 # $0 expands inside the namespace's shell
	nsenter --mount="$MNTNS" -- /bin/sh -ec '
		! grep -q " /run/openvswitch " /proc/self/mountinfo || exit 0
		mkdir -p /run/openvswitch
		busybox mount --bind "$0" /run/openvswitch
	' "$OVS_DIR" 9>&-
	[ -s "$OVS_DIR/conf.db" ] ||
		ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
	if ! ovs_pid ovsdb-server >/dev/null; then
		say "starting ovsdb-server ($OVSDB_SOCK)"
		start_ovs_daemon ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVSDB_SOCK"
		vsctl --no-wait init
		started=1
	fi
	if ! ovs_pid ovs-vswitchd >/dev/null; then
		say "starting ovs-vswitchd"
		start_ovs_daemon ovs-vswitchd "unix:$OVSDB_SOCK"
		started=1
	fi
	vsctl --may-exist add-br "$BR_OVS" -- set bridge "$BR_OVS" datapath_type=netdev
	ensure_veth "$OVS_LINK" "$OVS_PEER"
	vsctl --may-exist add-port "$BR_OVS" "$OVS_LINK"
	lab_ip link set "$BR_OVS" up
	[ -z "$started" ] || say "Open vSwitch $(ovs-vsctl --version | head -n 1 | awk '{ print $NF }'): bridge $BR_OVS (datapath netdev), $OVS_LINK <-> $OVS_PEER in $BR_PUB"
}

# A veth pair in the lab namespace whose second end is a port of BR_PUB, both up. Transmit
# checksum offload off on both ends: the OVS userspace datapath forwards what it reads from
# a packet socket as is, and a partial checksum would reach the guest unfinished.
ensure_veth() {
	local a=$1 b=$2
	if lab_ip link show "$a" >/dev/null 2>&1 && ! lab_ip link show "$b" >/dev/null 2>&1; then
		lab_ip link del "$a"
	fi
	lab_ip link show "$a" >/dev/null 2>&1 || lab_ip link add "$a" type veth peer name "$b"
	in_lab ethtool -K "$a" tx off >/dev/null 2>&1 || true
	in_lab ethtool -K "$b" tx off >/dev/null 2>&1 || true
	lab_ip link set "$b" master "$BR_PUB"
	lab_ip link set "$b" up
	lab_ip link set "$a" up
}

# The NIC kinds the wanted guests need (and those already there): OVS, the macvtap's lower.
ensure_nic_kinds() {
	if [ -n "$(guests_of_kind macvtap "$@")" ] || lab_ip link show "$MVT_LOWER" >/dev/null 2>&1; then
		ensure_veth "$MVT_LOWER" "$MVT_PEER"
	fi
	if [ -n "$(guests_of_kind ovs "$@")" ] || ovs_pid ovsdb-server >/dev/null; then
		ensure_ovs
	fi
}

# The tap of an OVS guest, named as Nova names it.
ovs_tap() { echo "tap${NOVA_PORT[$1]:0:11}"; }

# The name an OVS guest's tap hides under during the fault ovs-tap-vanish.
ovs_tap_away() { echo "vcgone${G_NUM[$1]}"; }

# The external_ids libvirt gives the port of an OVS guest's tap.
ovs_external_ids() {
	local n=$1
	printf '{attached-mac="%s", iface-id="%s", iface-status=active, vm-id="%s"}' \
		"52:54:00:0c:00:${G_NUM[$n]}" "${NOVA_PORT[$n]}" "5c0c0000-0000-4000-8000-0000000000${G_NUM[$n]}"
}

# ovs_port FAULT DOM: the faults of an OVS guest's port (and their undo).
ovs_port() {
	local f=$1 n=$2 tap ext
	tap=$(ovs_tap "$n")
	case $f in
	ovs-port-down | ovs-port-up)
		ofctl mod-port "$BR_OVS" "$tap" "${f#ovs-port-}"
		say "OVS port $tap of $n ${f#ovs-port-} (ovs-ofctl mod-port $BR_OVS $tap ${f#ovs-port-})"
		;;
	ovs-port-detach)
		# (what the attach puts back: the port's own external_ids, as libvirt set them)
		if ext=$(vsctl --if-exists get Interface "$tap" external_ids) && [ -n "$ext" ]; then
			echo "$ext" >"$STATE/ovs-external-ids.$n"
		fi
		vsctl --if-exists del-port "$BR_OVS" "$tap"
		say "OVS port $tap of $n deleted from $BR_OVS (ovs-vsctl del-port; the tap stays)"
		;;
	ovs-port-attach)
		ext=$(cat "$STATE/ovs-external-ids.$n" 2>/dev/null || ovs_external_ids "$n")
		vsctl --may-exist add-port "$BR_OVS" "$tap" -- set Interface "$tap" "external_ids=$ext"
		rm -f "$STATE/ovs-external-ids.$n"
		say "OVS port $tap of $n back on $BR_OVS with external_ids $ext"
		;;
	ovs-tap-vanish)
		# (QEMU keeps its file descriptor: only the name goes. ovs-vswitchd keeps the
		# device it opened, so the port is deleted and added again, as after a restart:
		# then it cannot open the device and sets the ofport to -1.)
		if lab_ip link show "$tap" >/dev/null 2>&1; then
			lab_ip link set "$tap" down
			lab_ip link set "$tap" name "$(ovs_tap_away "$n")"
		fi
		ovs_readd "$n" "$tap"
		wait_ofport "$tap" -1 || die "the OVS port $tap did not go stale (ofport $(vsctl get Interface "$tap" ofport))"
		say "tap $tap of $n renamed $(ovs_tap_away "$n"): its OVS port is stale (ofport -1, error $(vsctl get Interface "$tap" error))"
		;;
	ovs-tap-return)
		if lab_ip link show "$(ovs_tap_away "$n")" >/dev/null 2>&1; then
			lab_ip link set "$(ovs_tap_away "$n")" name "$tap"
		fi
		lab_ip link set "$tap" up
		# (ovs-vswitchd opens a port's device when it appears; re-added if it did not)
		wait_ofport "$tap" '' || { ovs_readd "$n" "$tap" && wait_ofport "$tap" ''; } ||
			die "the OVS port $tap has no ofport after its tap came back"
		say "tap $tap of $n back under its name: OVS port ofport $(vsctl get Interface "$tap" ofport)"
		;;
	esac
}

# Deletes an OVS guest's port and adds it again with its external_ids (two transactions:
# in one, ovs-vswitchd sees no change). ovs-vsctl's complaint that the device cannot be
# opened is expected under ovs-tap-vanish and dropped.
ovs_readd() {
	local n=$1 tap=$2 ext
	ext=$(vsctl --if-exists get Interface "$tap" external_ids 2>/dev/null || true)
	case $ext in *iface-id*) ;; *) ext=$(ovs_external_ids "$n") ;; esac
	vsctl --if-exists del-port "$BR_OVS" "$tap"
	vsctl add-port "$BR_OVS" "$tap" -- set Interface "$tap" "external_ids=$ext" 2>/dev/null
}

# Waits (5 s at most) until the Interface's ofport is -1, or with '' a real one.
wait_ofport() {
	local got
	for _ in $(seq 1 50); do
		got=$(vsctl --if-exists get Interface "$1" ofport 2>/dev/null || true)
		if [ -n "$2" ] && [ "$got" = "$2" ]; then return 0; fi
		if [ -z "$2" ] && [[ $got =~ ^[1-9][0-9]*$ ]]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# Undoes the NIC-kind faults of the running guests among the arguments: each OVS guest's
# port on BR_OVS and up, the macvtap lower device up.
restore_nic_kinds() {
	local n
	for n in $(guests_of_kind ovs "$@"); do
		[ "$(dom_state "$n")" = running ] || [ "$(dom_state "$n")" = paused ] || continue
		if lab_ip link show "$(ovs_tap_away "$n")" >/dev/null 2>&1; then ovs_port ovs-tap-return "$n"; fi
		if [ "$(vsctl port-to-br "$(ovs_tap "$n")" 2>/dev/null)" != "$BR_OVS" ]; then
			ovs_port ovs-port-attach "$n"
		fi
		ofctl mod-port "$BR_OVS" "$(ovs_tap "$n")" up
	done
	if lab_ip link show "$MVT_LOWER" >/dev/null 2>&1; then lab_ip link set "$MVT_LOWER" up; fi
}

# ---------------------------------------------------------------- guests

guest_cmdline() {
	local n=$1 dev0=eth0 c
	c="$KERNEL_ARGS vmcheck.host=$n vmcheck.role=${G_ROLE[$n]} vmcheck.agent=${G_AGENT[$n]}"
	if [ "${G_RENAME[$n]}" != - ]; then
		c+=" vmcheck.rename=${G_RENAME[$n]}"
		dev0=${G_RENAME[$n]#*,}
	fi
	c+=" vmcheck.net=$dev0,${G_NIC0[$n]}"
	[ "${G_NIC1[$n]}" = - ] || c+=" vmcheck.net=eth1,${G_NIC1[$n]}"
	[ "${G_GW4[$n]}" = - ] || c+=" vmcheck.gw4=${G_GW4[$n]}"
	[ "${G_GW6[$n]}" = - ] || c+=" vmcheck.gw6=${G_GW6[$n]}"
	[ "${G_HOSTILE[$n]}" = - ] || c+=" vmcheck.hostile=${G_HOSTILE[$n]}"
	echo "$c"
}

guest_xml() {
	local n=$1 num=${G_NUM[$1]}
	cat <<EOF
<domain type='qemu'>
  <name>$n</name>
  <uuid>5c0c0000-0000-4000-8000-0000000000$num</uuid>
  <title>vmcheck lab guest #$num</title>
  <description>vmcheck lab: role=${G_ROLE[$n]} agent=${G_AGENT[$n]} channel=${G_CHAN[$n]}</description>
$(nova_metadata "$n")
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>$(guest_cmdline "$n")</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
$(nic0_xml "$n")
EOF
	if [ "${G_NIC1[$n]}" != - ]; then
		if [ "$(cat "$STATE/internal-mode" 2>/dev/null)" = network ]; then
			echo "    <interface type='network'>"
			echo "      <source network='$INTERNAL_NET'/>"
		else
			echo "    <interface type='bridge'>"
			echo "      <source bridge='$BR_INT'/>"
		fi
		cat <<EOF
      <mac address='52:54:00:0c:01:$num'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
EOF
	fi
	cat <<EOF
    <serial type='file'>
      <source path='$CONSOLE/$n.log'/>
      <target port='0'/>
    </serial>
EOF
	if [ "${G_CHAN[$n]}" = yes ]; then
		cat <<EOF
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
EOF
	fi
	cat <<EOF
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# The first NIC of a guest, by its kind (NIC_KIND): a Linux bridge port of BR_PUB, an Open
# vSwitch port of BR_OVS as Nova's libvirt driver writes it (libvirt plugs the tap with
# ovs-vsctl, external_ids iface-id = the interfaceid, attached-mac, vm-id, iface-status), or
# a macvtap on MVT_LOWER.
nic0_xml() {
	local n=$1 port=${NOVA_PORT[$1]:-}
	case ${NIC_KIND[$n]:-bridge} in
	ovs)
		[ -n "$port" ] || die "$n: an OVS guest needs its Nova port (NOVA_PORT)"
		cat <<EOF
    <interface type='bridge'>
      <mac address='52:54:00:0c:00:${G_NUM[$n]}'/>
      <source bridge='$BR_OVS'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='$port'/>
      </virtualport>
      <target dev='tap${port:0:11}'/>
EOF
		;;
	macvtap)
		cat <<EOF
    <interface type='direct'>
      <mac address='52:54:00:0c:00:${G_NUM[$n]}'/>
      <source dev='$MVT_LOWER' mode='bridge'/>
EOF
		;;
	*)
		cat <<EOF
    <interface type='bridge'>
      <mac address='52:54:00:0c:00:${G_NUM[$n]}'/>
      <source bridge='$BR_PUB'/>
EOF
		# (libvirt's Linux bridge NIC takes no virtualport parameters: Nova's port is its
		# tap name)
		[ -z "$port" ] || echo "      <target dev='tap${port:0:11}'/>"
		;;
	esac
	cat <<EOF
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
EOF
}

# <metadata> as Nova writes it (namespace 1.1, with ports) for the guests of NOVA_PORT.
nova_metadata() {
	local n=$1 port=${NOVA_PORT[$1]:-} a v
	[ -n "$port" ] || return 0
	cat <<EOF
  <metadata>
    <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>
      <nova:package version='27.1.0'/>
      <nova:name>$n</nova:name>
      <nova:owner>
        <nova:user uuid='5c0c0000-0000-4000-8000-00000000a001'>lab-user</nova:user>
        <nova:project uuid='5c0c0000-0000-4000-8000-00000000b001'>lab-project</nova:project>
      </nova:owner>
      <nova:ports>
        <nova:port uuid='$port'>
EOF
	for a in ${G_NIC0[$n]//,/ }; do
		v=4
		case $a in *:*) v=6 ;; esac
		echo "          <nova:ip type='fixed' address='${a%/*}' ipVersion='$v'/>"
	done
	cat <<EOF
        </nova:port>
      </nova:ports>
    </nova:instance>
  </metadata>
EOF
}

dom_state() { V domstate "$1" 2>/dev/null | head -n 1 || true; }

# Defines (from the current XML) and starts a guest that is not running.
start_guest() {
	local n=$1
	mkdir -p "$XMLDIR" "$CONSOLE"
	guest_xml "$n" >"$XMLDIR/$n.xml"
	# (a stable UUID lets a redefinition replace an inactive definition; an older one
	# with another UUID is dropped first)
	V define "$XMLDIR/$n.xml" >/dev/null 2>&1 || {
		V undefine "$n" >/dev/null 2>&1 || true
		V define "$XMLDIR/$n.xml" >/dev/null
	}
	: >"$CONSOLE/$n.log"
	rm -f "$STATE/frozen.$n"
	V start "$n" >/dev/null
}

agent_ping() { V qemu-agent-command "$1" '{"execute":"guest-ping"}' --timeout "${2:-5}" >/dev/null 2>&1; }
booted() { grep -q '\[vmcheck-init\] ready' "$CONSOLE/$1.log" 2>/dev/null; }

# Waits until every listed guest has booted and, where one should answer, its agent
# answers guest-ping. Guests already in their post-boot state count as ready.
wait_guests() {
	local pending=("$@") n st ready total=$# nagents=0 last='' deadline=$((SECONDS + BOOT_TIMEOUT)) left
	local -A states
	for n in "$@"; do wants_agent "$n" && nagents=$((nagents + 1)); done
	while :; do
		# One virsh call per round for all states (the guests boot on the same CPUs).
		states=()
		while read -r _ n st; do
			[ -n "${n:-}" ] && states[$n]=$st
		done < <(V list --all 2>/dev/null || true)
		left=()
		for n in "${pending[@]}"; do
			st=${states[$n]:-undefined}
			case $st in
			running) ;;
			paused)
				[ "${G_POST[$n]}" = suspend ] && continue
				;;
			*)
				say "guest $n is '$st'; console log tail:"
				tail -n 25 "$CONSOLE/$n.log" >&2 2>/dev/null || true
				die "guest $n stopped while booting"
				;;
			esac
			if booted "$n" && { ! wants_agent "$n" || [ -e "$STATE/frozen.$n" ] || agent_ping "$n" 3; }; then
				continue
			fi
			left+=("$n")
		done
		pending=("${left[@]}")
		ready=$((total - ${#pending[@]}))
		if [ "$ready/$total" != "$last" ]; then
			say "waiting for agents: $ready/$total guests ready ($nagents with an agent)"
			last="$ready/$total"
		fi
		[ ${#pending[@]} -gt 0 ] || return 0
		if [ $SECONDS -ge $deadline ]; then
			for n in "${pending[@]}"; do
				say "guest $n never came up (agent expected: $(wants_agent "$n" && echo yes || echo no)); console tail:"
				tail -n 25 "$CONSOLE/$n.log" >&2 2>/dev/null || true
			done
			die "timeout after ${BOOT_TIMEOUT}s waiting for: ${pending[*]}"
		fi
		sleep 1
	done
}

post_boot() {
	local n
	for n in "$@"; do
		if [ "${G_POST[$n]}" = suspend ] && [ "$(dom_state "$n")" = running ]; then
			V suspend "$n" >/dev/null
			say "suspended $n"
		fi
	done
}

lab_domains() {
	local defined n
	defined=" $(V list --all --name 2>/dev/null | tr '\n' ' ') "
	for n in "${ALL_GUESTS[@]}"; do
		[[ $defined == *" $n "* ]] && echo "$n"
	done
	return 0
}

write_env() {
	local guests
	guests=$(lab_domains | tr '\n' ' ')
	guests=${guests% }
	cat >"$LAB_DIR/env.tmp" <<EOF
# vmcheck lab ($LAB_DIR), written by lab/lab.sh up
VMCHECK_LAB_URI=$URI
VMCHECK_LAB_EXTERNAL4=$EXT4
VMCHECK_LAB_EXTERNAL6=$EXT6
VMCHECK_LAB_SILENT4=$SILENT4
VMCHECK_LAB_SILENT6=$SILENT6
VMCHECK_LAB_GUESTS="$guests"
VMCHECK_LAB_GATEWAY4=$GW4
VMCHECK_LAB_GATEWAY6=$GW6
VMCHECK_LAB_DNS4=$DNS4
VMCHECK_LAB_WEB_NAME=$WEB_NAME
VMCHECK_LAB_WEB_URL=http://$EXT4/
VMCHECK_LAB_INTERNAL_GATEWAY4=$INT_GW4
VMCHECK_LAB_DIR=$LAB_DIR
VMCHECK_LAB_OVSDB=unix:$OVSDB_SOCK
export VMCHECK_LAB_OVSDB VMCHECK_LAB_DNS4 VMCHECK_LAB_WEB_NAME VMCHECK_LAB_WEB_URL
export VMCHECK_LAB_URI VMCHECK_LAB_EXTERNAL4 VMCHECK_LAB_EXTERNAL6 VMCHECK_LAB_SILENT4 VMCHECK_LAB_SILENT6 VMCHECK_LAB_GUESTS VMCHECK_LAB_GATEWAY4 VMCHECK_LAB_GATEWAY6 VMCHECK_LAB_INTERNAL_GATEWAY4 VMCHECK_LAB_DIR
EOF
	mv "$LAB_DIR/env.tmp" "$LAB_DIR/env"
}

resolve_guest_list() {
	local spec=$1 n
	case $spec in
	full) printf '%s\n' "${ALL_GUESTS[@]}" ;;
	demo) printf '%s\n' "${DEMO_GUESTS[@]}" ;;
	*)
		for n in ${spec//,/ }; do
			is_guest "$n" || die "unknown guest '$n' (known: ${ALL_GUESTS[*]})"
			echo "$n"
		done
		;;
	esac
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local spec=full n st wanted=() starting=()
	while [ $# -gt 0 ]; do
		case $1 in
		--guests) spec=${2:?--guests needs a value}; shift ;;
		--guests=*) spec=${1#*=} ;;
		*) die "up: unknown argument $1" ;;
		esac
		shift
	done
	mapfile -t wanted < <(resolve_guest_list "$spec")
	[ ${#wanted[@]} -gt 0 ] || die "no guests selected"
	prepare_dir
	lock
	mkdir -p "$STATE" "$CACHE"
	say "lab dir $LAB_DIR"
	ensure_packages
	ensure_kernel
	ensure_image
	say "network namespaces $NS_LAB / $NS_OUT"
	ensure_network
	ensure_mountns
	ensure_nic_kinds "${wanted[@]}"
	ensure_daemons
	ensure_internal_net
	for n in "${wanted[@]}"; do
		st=$(dom_state "$n")
		case $st in
		running)
			# Repair a guest a test left broken (agent frozen, or disconnected by libvirt
			# after a reply over its 10 MiB limit): an answering agent is part of "up".
			if booted "$n" && wants_agent "$n" && ! agent_ping "$n" 3; then
				say "repairing $n: its agent does not answer; restarting it"
				V destroy "$n" >/dev/null 2>&1 || true
				starting+=("$n")
			fi
			;;
		paused | "in shutdown" | blocked) ;;
		*) starting+=("$n") ;;
		esac
	done
	if [ ${#starting[@]} -gt 0 ]; then
		say "booting ${#starting[@]} guests: ${starting[*]}"
		for n in "${starting[@]}"; do start_guest "$n"; done
	else
		say "all ${#wanted[@]} guests already running"
	fi
	wait_guests "${wanted[@]}"
	post_boot "${wanted[@]}"
	restore_nic_kinds "${ALL_GUESTS[@]}"
	write_env
	say "lab up: $(lab_domains | wc -l) guests; env in $LAB_DIR/env"
	echo "VMCHECK_LAB_URI=$URI"
}

# Processes whose mount namespace is the lab's: all of them were started by the lab.
lab_ns_pids() {
	local id=$1 p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$id" ] && echo "${p#/proc/}"
	done
	return 0
}

cmd_down() {
	local purge='' n pid id f d
	case ${1:-} in
	--purge) purge=1 ;;
	"") ;;
	*) die "down: unknown argument $1" ;;
	esac
	if [ ! -d "$LAB_DIR" ]; then
		netns_exists "$NS_LAB" || netns_exists "$NS_OUT" || {
			say "nothing to do"
			return 0
		}
	else
		[ -e "$LAB_DIR/.vmcheck-lab" ] || die "$LAB_DIR is not a vmcheck lab dir"
		lock
	fi
	id=$(mntns_id || true)
	if daemon_pid libvirtd >/dev/null && V version >/dev/null 2>&1; then
		local doms
		doms=$(V list --all --name 2>/dev/null || true)
		if [ -n "$doms" ]; then
			say "removing domains: $(echo "$doms" | tr '\n' ' ')"
			for n in $doms; do
				{ V destroy "$n" >/dev/null 2>&1 || true; } &
			done
			wait
			for n in $doms; do V undefine "$n" >/dev/null 2>&1 || true; done
		fi
		if V net-info "$INTERNAL_NET" >/dev/null 2>&1; then
			V net-destroy "$INTERNAL_NET" >/dev/null 2>&1 || true
			V net-undefine "$INTERNAL_NET" >/dev/null 2>&1 || true
		fi
	fi
	# QEMU processes left behind (libvirtd gone): libvirt's own pid files, checked.
	for n in "${ALL_GUESTS[@]}"; do
		f=$LAB_DIR/run/libvirt/qemu/$n.pid
		if [ ! -e "$f" ] || [ -z "$id" ]; then continue; fi
		pid=$(cat "$f" 2>/dev/null) || continue
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$id" ] || continue
		say "stopping leftover qemu $pid ($n)"
		stop_pid "$pid" qemu
	done
	for n in libvirtd virtlogd; do
		if pid=$(daemon_pid "$n"); then
			say "stopping $n ($pid)"
			stop_pid "$pid" "$n"
		fi
	done
	# (after the domains: libvirt deletes their OVS ports when it stops them)
	for n in ovs-vswitchd ovsdb-server; do
		if pid=$(ovs_pid "$n"); then
			say "stopping $n ($pid)"
			stop_pid "$pid" "$n"
		fi
	done
	for n in dnsmasq httpd; do
		if pid=$(out_pid "$n"); then
			say "stopping $n ($pid) of $NS_OUT"
			stop_out_service "$n"
		fi
	done
	if [ -n "$id" ]; then
		for pid in $(lab_ns_pids "$id"); do
			say "stopping leftover process $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) of the lab's mount namespace"
			stop_pid "$pid" leftover
		done
	fi
	for n in "$NS_LAB" "$NS_OUT"; do
		if netns_exists "$n"; then
			say "removing network namespace $n"
			ip netns del "$n"
		fi
	done
	if [ -d "$LAB_DIR" ]; then
		if mountpoint -q "$MNTNS" 2>/dev/null; then busybox umount "$MNTNS"; fi
		if mountpoint -q "$NSDIR" 2>/dev/null; then busybox umount "$NSDIR"; fi
		local left
		left=$(findmnt -rn -o TARGET | grep -F "$LAB_DIR/" || true)
		[ -z "$left" ] || die "mounts remain under $LAB_DIR: $(echo "$left" | tr '\n' ' ')" 
		for d in "${RUNTIME_DIRS[@]}"; do rm -rf "${LAB_DIR:?}/$d"; done
		rm -f "$LAB_DIR/env" "$LAB_DIR/env.tmp"
		if [ -n "$purge" ]; then
			say "purging $LAB_DIR"
			rm -rf "${LAB_DIR:?}"
		fi
	fi
	say "lab down"
}

cmd_status() {
	local n pid st agent xml
	echo "lab dir:  $LAB_DIR"
	echo "uri:      $URI"
	for n in virtlogd libvirtd; do
		if pid=$(daemon_pid "$n"); then echo "$n: running, pid $pid"; else echo "$n: not running"; fi
	done
	for n in "$NS_LAB" "$NS_OUT"; do
		if netns_exists "$n"; then echo "netns $n: present"; else echo "netns $n: absent"; fi
	done
	if [ -n "$(mntns_id || true)" ]; then echo "mount ns: $MNTNS $(mntns_id)"; else echo "mount ns: absent"; fi
	if netns_exists "$NS_LAB"; then
		echo "uplink $UPLINK: $(lab_ip -br link show "$UPLINK" 2>/dev/null | awk '{ print $2 }')"
		echo "$BR_PUB: $(lab_ip -br addr show "$BR_PUB" 2>/dev/null | cut -d' ' -f2- | tr -s ' ')"
		echo "internal network: $(cat "$STATE/internal-mode" 2>/dev/null || echo '?') ($BR_INT)"
		for n in dnsmasq httpd; do
			if pid=$(out_pid "$n"); then echo "$n ($NS_OUT): running, pid $pid"; else echo "$n ($NS_OUT): not running"; fi
		done
		for n in ovsdb-server ovs-vswitchd; do
			if pid=$(ovs_pid "$n"); then echo "$n: running, pid $pid ($OVSDB_SOCK)"; else echo "$n: not running"; fi
		done
		if lab_ip link show "$MVT_LOWER" >/dev/null 2>&1; then
			echo "macvtap lower $MVT_LOWER: $(lab_ip -br link show "$MVT_LOWER" | awk '{ print $2 }')"
		fi
	fi
	daemon_pid libvirtd >/dev/null || return 0
	printf '%-14s %-10s %-13s %s\n' DOMAIN STATE AGENT NOTE
	for n in $(V list --all --name 2>/dev/null); do
		st=$(dom_state "$n")
		xml=$(V dumpxml "$n" 2>/dev/null || true)
		agent=$(echo "$xml" | sed -n "s/.*name='org.qemu.guest_agent.0'.*state='\([a-z]*\)'.*/\1/p")
		if [ -z "$agent" ]; then
			case $xml in *org.qemu.guest_agent.0*) agent=- ;; *) agent=none ;; esac
		fi
		printf '%-14s %-10s %-13s %s\n' "$n" "$st" "$agent" "$([ -e "$STATE/frozen.$n" ] && echo frozen)"
	done
}

need_lab() {
	[ -e "$LAB_DIR/.vmcheck-lab" ] || die "no lab at $LAB_DIR (run: lab/lab.sh up)"
	daemon_pid libvirtd >/dev/null || die "lab libvirtd is not running (run: lab/lab.sh up)"
}

need_dom() {
	[ -n "${1:-}" ] || die "fault $2 needs a DOMAIN"
	is_guest "$1" || die "unknown lab guest '$1'"
}

fault_start() {
	local n=$1
	case $(dom_state "$n") in
	running | paused) die "$n is already running" ;;
	"") die "$n is not defined (run: lab/lab.sh up --guests $n)" ;;
	esac
	: >"$CONSOLE/$n.log"
	rm -f "$STATE/frozen.$n"
	V start "$n" >/dev/null
	say "started $n, waiting for it"
	wait_guests "$n"
	post_boot "$n"
}

# The MAC of a guest's NIC: eth0 (or its renamed name, or empty) is the first, eth1 the second.
nic_mac() {
	local n=$1 dev0=eth0
	[ "${G_RENAME[$n]}" = - ] || dev0=${G_RENAME[$n]#*,}
	case ${2:-$dev0} in
	"$dev0") echo "52:54:00:0c:00:${G_NUM[$n]}" ;;
	eth1)
		[ "${G_NIC1[$n]}" != - ] || die "$n has no second NIC"
		echo "52:54:00:0c:01:${G_NUM[$n]}"
		;;
	*) die "$n has no interface '$2' (use $dev0 or eth1)" ;;
	esac
}

# Runs a busybox sh script in a guest through guest-exec and waits for it; prints its
# output and fails when it fails.
guest_sh() {
	local n=$1 req reply pid st out
	req=$(jq -cn --arg s "$2" '{execute: "guest-exec", arguments: {path: "/bin/busybox", arg: ["sh", "-c", $s], "capture-output": true}}')
	reply=$(V qemu-agent-command "$n" "$req" --timeout 10) || die "guest-exec in $n failed"
	pid=$(jq -r '.return.pid' <<<"$reply")
	for _ in $(seq 1 100); do
		st=$(V qemu-agent-command "$n" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}" --timeout 10) ||
			die "guest-exec-status in $n failed"
		if [ "$(jq -r '.return.exited' <<<"$st")" = true ]; then
			out=$(jq -r '[.return["out-data"], .return["err-data"]] | map(select(.) | @base64d) | join("")' <<<"$st")
			[ -z "$out" ] || printf '%s\n' "$out" >&2
			[ "$(jq -r '.return.exitcode // 0' <<<"$st")" = 0 ] || die "command in $n failed: $2"
			return 0
		fi
		sleep 0.1
	done
	die "command in $n did not finish: $2"
}

# A guest's network configuration as /init made it (addresses, default routes), as a script
# that puts it back from any fault of guest_fault (idempotent).
guest_net_script() {
	local n=$1 dev0=eth0 dev addrs a s=''
	[ "${G_RENAME[$n]}" = - ] || dev0=${G_RENAME[$n]#*,}
	for dev in "$dev0" eth1; do
		addrs=${G_NIC0[$n]}
		[ "$dev" = "$dev0" ] || addrs=${G_NIC1[$n]}
		[ "$addrs" != - ] || continue
		s+="ip link set dev $dev up; ip -4 addr flush dev $dev; "
		for a in ${addrs//,/ }; do
			case $a in
			*:*) s+="ip -6 addr add $a dev $dev 2>/dev/null; " ;;
			*) s+="ip addr add $a dev $dev; " ;;
			esac
		done
	done
	# (routes need the link up: retried briefly)
	[ "${G_GW4[$n]}" = - ] || s+="for i in 1 2 3 4 5 6 7 8 9 10; do ip route replace default via ${G_GW4[$n]} && break; sleep 0.2; done; "
	[ "${G_GW6[$n]}" = - ] || s+="for i in 1 2 3 4 5 6 7 8 9 10; do ip -6 route replace default via ${G_GW6[$n]} && break; sleep 0.2; done; "
	echo "${s}true"
}

# guest_fault FAULT DOM [IFACE]: a fault inside the guest, through its agent and /bin/ip.
guest_fault() {
	local f=$1 n=$2 dev0=eth0 dev addrs a wrong=''
	if [ "${G_ROLE[$n]}" = hostile ] || ! wants_agent "$n"; then die "$n has no qemu-ga to run /bin/ip"; fi
	[ "${G_RENAME[$n]}" = - ] || dev0=${G_RENAME[$n]#*,}
	dev=${3:-$dev0}
	nic_mac "$n" "$dev" >/dev/null
	addrs=${G_NIC0[$n]}
	[ "$dev" = "$dev0" ] || addrs=${G_NIC1[$n]}
	case $f in
	guest-ifdown)
		guest_sh "$n" "ip link set dev $dev down"
		say "$n: $dev down in the guest"
		;;
	guest-no-address)
		guest_sh "$n" "ip -4 addr flush dev $dev"
		say "$n: IPv4 addresses of $dev flushed in the guest"
		;;
	guest-wrong-address)
		for a in ${addrs//,/ }; do
			case $a in *:*) ;; *) wrong+="ip addr add ${a%.*}.$((${a##*.} + 100))/${a#*/} dev $dev; " ;; esac
		done
		a=${G_GW4[$n]}
		[ "$a" = - ] || [ "$dev" != "$dev0" ] || wrong+="ip route replace default via $a; "
		guest_sh "$n" "ip -4 addr flush dev $dev; ${wrong}true"
		say "$n: $dev holds $(echo "$wrong" | grep -o 'add [^ ]*' | cut -d' ' -f2 | tr '\n' ' ')instead of ${addrs}"
		;;
	guest-no-route)
		[ "${G_GW4[$n]}" != - ] || die "$n has no IPv4 default route"
		guest_sh "$n" "ip route del default via ${G_GW4[$n]}"
		say "$n: default route via ${G_GW4[$n]} deleted in the guest"
		;;
	*)
		guest_sh "$n" "$(guest_net_script "$n")"
		say "$n: network configuration restored in the guest"
		;;
	esac
}

cmd_fault() {
	local f=${1:-} n=${2:-} pid out
	[ -n "$f" ] || die "usage: lab/lab.sh fault NAME [DOMAIN]"
	need_lab
	lock
	case $f in
	cut-outside | upstream-cut)
		lab_ip link set "$UPLINK" down
		say "uplink $UPLINK down: $EXT4 / $EXT6 unreachable, gateways still answer"
		;;
	restore-outside | upstream-restore)
		ensure_network
		say "uplink $UPLINK up"
		;;
	drop-gateway | gateway-absent)
		lab_ip addr del "$GW4/$GW4_LEN" dev "$BR_PUB" 2>/dev/null || true
		say "$GW4 removed from $BR_PUB"
		;;
	restore-gateway | gateway-present)
		lab_ip addr replace "$GW4/$GW4_LEN" dev "$BR_PUB"
		say "$GW4 back on $BR_PUB"
		;;
	freeze-agent)
		need_dom "$n" "$f"
		V qemu-agent-command "$n" \
			'{"execute":"guest-exec","arguments":{"path":"/bin/busybox","arg":["sh","-c","sleep 1; killall -STOP qemu-ga"]}}' \
			--timeout 10 >/dev/null
		touch "$STATE/frozen.$n"
		sleep 2
		if out=$(V qemu-agent-command "$n" '{"execute":"guest-ping"}' --timeout 2 2>&1); then
			die "agent of $n still answers guest-ping: $out"
		fi
		say "agent of $n frozen (guest-ping now fails: $(echo "$out" | head -n 1))"
		;;
	restart-libvirtd)
		# Agents that answer now must answer after the restart (not those already
		# frozen or disconnected, e.g. lab-flood after an oversized reply).
		local again=() xml
		for n in $(lab_domains); do
			[ "$(dom_state "$n")" = running ] || continue
			if ! wants_agent "$n" || [ -e "$STATE/frozen.$n" ]; then continue; fi
			xml=$(V dumpxml "$n" 2>/dev/null || true)
			[[ $xml == *"name='org.qemu.guest_agent.0' state='connected'"* ]] || continue
			again+=("$n")
		done
		pid=$(daemon_pid libvirtd)
		say "stopping libvirtd ($pid)"
		stop_pid "$pid" libvirtd
		say "starting libvirtd"
		start_daemon libvirtd
		wait_libvirtd_ready
		say "libvirtd $(daemon_pid libvirtd) ready; waiting for the agents that answered before: ${again[*]:-none}"
		[ ${#again[@]} -eq 0 ] || BOOT_TIMEOUT=120 wait_guests "${again[@]}"
		;;
	destroy)
		need_dom "$n" "$f"
		V destroy "$n" >/dev/null
		rm -f "$STATE/frozen.$n"
		say "destroyed $n"
		;;
	start)
		need_dom "$n" "$f"
		fault_start "$n"
		;;
	pause)
		need_dom "$n" "$f"
		V suspend "$n" >/dev/null
		say "paused $n"
		;;
	resume)
		need_dom "$n" "$f"
		V resume "$n" >/dev/null
		say "resumed $n"
		;;
	reset | thaw-agent)
		need_dom "$n" "$f"
		case $(dom_state "$n") in running | paused) V destroy "$n" >/dev/null ;; esac
		for _ in $(seq 1 50); do
			[ "$(dom_state "$n")" = "shut off" ] && break
			sleep 0.1
		done
		fault_start "$n"
		;;
	link-down | link-up)
		need_dom "$n" "$f"
		local mac
		mac=$(nic_mac "$n" "${3:-}")
		V domif-setlink "$n" "$mac" "${f#link-}" >/dev/null
		say "host link of $n's NIC $mac ${f#link-}"
		;;
	tap-unplug | tap-plug)
		need_dom "$n" "$f"
		[ -z "${NIC_KIND[$n]:-}" ] ||
			die "$n's NIC is not a Linux bridge port but ${NIC_KIND[$n]} (its faults: ${NIC_KIND[$n]}-*)"
		local mac tap br
		mac=$(nic_mac "$n" "${3:-}")
		read -r tap br < <(V domiflist "$n" | awk -v m="$mac" 'tolower($5) == m { print $1, $3 }')
		if [ -z "${tap:-}" ] || [ -z "${br:-}" ]; then die "no tap of $n with MAC $mac"; fi
		if [ "$f" = tap-unplug ]; then
			lab_ip link set "$tap" nomaster
			say "tap $tap of $n out of $br"
		else
			lab_ip link set "$tap" master "$br"
			lab_ip link set "$tap" up
			say "tap $tap of $n back in $br"
		fi
		;;
	guest-ifdown | guest-ifup | guest-no-address | guest-wrong-address | guest-no-route | guest-restore | guest-restore-address | guest-restore-route)
		need_dom "$n" "$f"
		guest_fault "$f" "$n" "${3:-}"
		;;
	ovs-port-down | ovs-port-up | ovs-port-detach | ovs-port-attach | ovs-tap-vanish | ovs-tap-return)
		need_dom "$n" "$f"
		[ "${NIC_KIND[$n]:-}" = ovs ] || die "$n has no Open vSwitch port (OVS guests: $(guests_of_kind ovs "${ALL_GUESTS[@]}" | paste -sd ' '))"
		ovs_pid ovs-vswitchd >/dev/null || die "the lab's Open vSwitch is not running (run: lab/lab.sh up --guests $n)"
		ovs_port "$f" "$n"
		;;
	macvtap-lower-down | macvtap-lower-up)
		if [ -n "$n" ]; then
			need_dom "$n" "$f"
			[ "${NIC_KIND[$n]:-}" = macvtap ] || die "$n has no macvtap NIC"
		fi
		lab_ip link show "$MVT_LOWER" >/dev/null 2>&1 || die "no $MVT_LOWER in $NS_LAB (run: lab/lab.sh up --guests lab-macvtap)"
		lab_ip link set "$MVT_LOWER" "${f#macvtap-lower-}"
		say "macvtap lower device $MVT_LOWER ${f#macvtap-lower-}"
		;;
	gateway-drop-icmp)
		gateway_icmp drop
		say "echo requests to $GW4 / $GW6 dropped in $NS_LAB (ARP/ND still answered)"
		;;
	gateway-allow-icmp)
		gateway_icmp allow
		say "echo requests to $GW4 / $GW6 answered again"
		;;
	mtu-blackhole)
		path_fault "$f"
		say "$UPLINK/$OUTLINK at MTU $BLACKHOLE_MTU, the router's ICMP frag-needed/packet-too-big dropped: full-size DF packets to the outside vanish"
		;;
	mtu-restore)
		path_fault "$f"
		say "$UPLINK/$OUTLINK at MTU 1500, ICMP frag-needed/packet-too-big sent again"
		;;
	tcp-drop | tcp-reject | tcp-allow)
		path_fault "$f"
		case $f in
		tcp-drop) say "TCP to port 80 through the router dropped (connections time out)" ;;
		tcp-reject) say "TCP to port 80 through the router answered with a TCP reset" ;;
		*) say "TCP to port 80 through the router passes again" ;;
		esac
		;;
	loss)
		path_fault "$f"
		say "50 % of the echo requests forwarded toward the outside dropped (the gateways unaffected)"
		;;
	loss-restore)
		path_fault "$f"
		say "no echo requests dropped toward the outside any more"
		;;
	dns-stop)
		stop_out_service dnsmasq
		say "dnsmasq ($DNS4) stopped: name resolution in the guests fails"
		;;
	dns-start)
		start_dnsmasq
		say "dnsmasq ($DNS4) running, pid $(out_pid dnsmasq)"
		;;
	*) die "unknown fault '$f' (cut-outside|upstream-cut restore-outside|upstream-restore drop-gateway|gateway-absent restore-gateway|gateway-present freeze-agent thaw-agent pause resume restart-libvirtd destroy start reset link-down link-up tap-unplug tap-plug ovs-port-down ovs-port-up ovs-port-detach ovs-port-attach ovs-tap-vanish ovs-tap-return macvtap-lower-down macvtap-lower-up guest-ifdown guest-ifup guest-no-address guest-wrong-address guest-no-route guest-restore gateway-drop-icmp gateway-allow-icmp mtu-blackhole mtu-restore dns-stop dns-start tcp-drop tcp-reject tcp-allow loss loss-restore)" ;;
	esac
}

usage() {
	sed -n '2,/^$/p' "$SELF" | sed -n '/^#/p' | sed 's/^# \{0,1\}//'
}

main() {
	local cmd=${1:-}
	[ $# -eq 0 ] || shift
	case $cmd in
	up)
		check_lab_dir
		cmd_up "$@"
		;;
	down)
		check_lab_dir
		cmd_down "$@"
		;;
	status)
		check_lab_dir
		cmd_status
		;;
	virsh) exec virsh -c "$URI" "$@" ;;
	fault)
		check_lab_dir
		cmd_fault "$@"
		;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
