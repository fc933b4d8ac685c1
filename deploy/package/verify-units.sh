#!/usr/bin/env bash
# deploy/package/verify-units.sh DEB...
#
# Runs `systemd-analyze verify` on the systemd units of each .deb as the
# package installs them: the .deb is unpacked into a scratch root that also
# holds the host's own units (the targets ours refer to), so ExecStart is
# checked against the packaged /usr/bin/vmcheck. systemd need not be
# running. Any message from systemd-analyze, even a warning, is a failure.
#
# Then the units' EnvironmentFile, /etc/default/vmcheck: the .deb must ship
# it as a conffile, every unit running vmcheck must read it, it must assign
# every $VARIABLE of the units' ExecStart=, and the packaged vmcheck must
# accept its values and every example in its comments (NAME="..." after
# "#") as flags of the command (vmcheck serve|cron FLAGS --help).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: verify-units.sh DEB..." >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "verify-units.sh: systemd-analyze not found (apt-get install systemd)" >&2; exit 2; }

default=/etc/default/vmcheck
# command_of VARIABLE: the vmcheck command whose flags the variable holds.
command_of() {
	case $1 in
	SERVE_ARGS) echo serve ;;
	CRON_ARGS) echo cron ;;
	*) return 1 ;;
	esac
}

# verify_default DEB: the checks of /etc/default/vmcheck in the unpacked DEB.
verify_default() {
	local deb=$1 ok=0 unit var cmd line value
	if [ ! -f "$root$default" ]; then
		echo "$deb: no $default" >&2
		return 1
	fi
	if ! dpkg-deb -I "$deb" conffiles | grep -qx "$default"; then
		echo "$deb: $default is not a conffile" >&2
		ok=1
	fi
	for unit in "$root"/lib/systemd/system/vmcheck*.service; do
		if ! grep -qx "EnvironmentFile=-$default" "$unit"; then
			echo "$deb: ${unit##*/} has no EnvironmentFile=-$default" >&2
			ok=1
		fi
		# The unbraced $VARIABLEs of ExecStart= (${TEXTFILE_DIR} is the unit's own).
		for var in $(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | grep -o '\$[A-Z_][A-Z_]*' | tr -d '$'); do
			if ! grep -q "^$var=" "$root$default"; then
				echo "$deb: ${unit##*/} uses \$$var, which $default does not set" >&2
				ok=1
			fi
		done
	done
	# Every assignment, set or in a comment, of a variable holding flags.
	while IFS= read -r line; do
		var=${line%%=*} value=${line#*=}
		value=${value#\"} value=${value%\"}
		if ! cmd=$(command_of "$var"); then
			echo "$deb: $default: unknown variable $var" >&2
			ok=1
			continue
		fi
		# shellcheck disable=SC2086 # split at spaces, as systemd splits $VAR
		if ! out=$("$root/usr/bin/vmcheck" "$cmd" $value --help 2>&1 >/dev/null); then
			printf '%s: %s: vmcheck %s refuses %s=%s:\n%s\n' "$deb" "$default" "$cmd" "$var" "$value" "$out" >&2
			ok=1
		fi
	done < <(sed -n 's/^#* *\([A-Z_]*=".*"\)$/\1/p' "$root$default")
	[ $ok -eq 0 ] && echo "$deb: $default: verified"
	return $ok
}

root=$(mktemp -d "${TMPDIR:-/tmp}/vmcheck-units.XXXXXX")
trap 'rm -rf "$root"' EXIT
status=0
for deb in "$@"; do
	rm -rf "${root:?}"/*
	mkdir -p "$root/lib/systemd"
	cp -a /lib/systemd/system "$root/lib/systemd/"
	dpkg-deb -x "$deb" "$root"
	units=()
	for u in "$root"/lib/systemd/system/vmcheck*; do
		units+=("/lib/systemd/system/${u##*/}")
	done
	if [ ${#units[@]} -eq 0 ]; then
		echo "$deb: no vmcheck units" >&2
		status=1
		continue
	fi
	if out=$(systemd-analyze verify --root="$root" "${units[@]}" 2>&1) && [ -z "$out" ]; then
		echo "$deb: ${units[*]}: verified"
	else
		printf '%s: systemd-analyze verify:\n%s\n' "$deb" "$out" >&2
		status=1
	fi
	verify_default "$deb" || status=1
done
exit $status
