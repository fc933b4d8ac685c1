#!/usr/bin/env bash
# deploy/package/verify-units.sh DEB...
#
# Runs `systemd-analyze verify` on the systemd units of each .deb as the
# package installs them: the .deb is unpacked into a scratch root that also
# holds the host's own units (the targets ours refer to), so ExecStart is
# checked against the packaged /usr/bin/vmcheck. systemd need not be
# running. Any message from systemd-analyze, even a warning, is a failure.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: verify-units.sh DEB..." >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "verify-units.sh: systemd-analyze not found (apt-get install systemd)" >&2; exit 2; }

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
done
exit $status
