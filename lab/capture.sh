#!/usr/bin/env bash
# lab/capture.sh [OUTDIR] — records raw guest-agent replies and libvirt errors from a
# running full lab (lab/lab.sh up) as test fixtures. Default OUTDIR: /tmp/lab-captures.
#
# Files: OUTDIR/<domain>/<name>.json  the reply string exactly as libvirt returns it
#                                      (virsh qemu-agent-command, i.e. QemuAgentCommand)
#        OUTDIR/<domain>/<name>.err   virsh's error text for a failed call, then "exit=N"
#        OUTDIR/<domain>/<name>.stdout / .stderr   decoded out-data / err-data of a
#                                      guest-exec, for reading (the .json is the fixture)
# It injects faults on its own (cut-outside, freeze-agent lab-freeze, destroy lab-freeze,
# the lab-flood overflow) and undoes them (restore-outside, start lab-freeze, reset
# lab-flood) before it ends.
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
LAB=$HERE/lab.sh
OUT=${1:-/tmp/lab-captures}
LAB_DIR=${VMCHECK_LAB_DIR:-/var/tmp/vmcheck-lab}
[ -r "$LAB_DIR/env" ] || {
	echo "no lab env at $LAB_DIR/env: run lab/lab.sh up first" >&2
	exit 1
}
# shellcheck source=/dev/null
. "$LAB_DIR/env"
V() { timeout 120 virsh -q -c "$VMCHECK_LAB_URI" "$@"; }
say() { printf '[capture] %s\n' "$*" >&2; }

# cap DOM NAME JSON [TIMEOUT]: one agent command, reply or error saved.
cap() {
	local dom=$1 name=$2 json=$3 t=${4:-10} rc=0 out
	mkdir -p "$OUT/$dom"
	out=$(V qemu-agent-command "$dom" "$json" --timeout "$t" 2>"$OUT/$dom/$name.err.tmp") || rc=$?
	if [ $rc -eq 0 ]; then
		printf '%s\n' "$out" >"$OUT/$dom/$name.json"
		rm -f "$OUT/$dom/$name.err.tmp"
	else
		{
			cat "$OUT/$dom/$name.err.tmp"
			echo "exit=$rc"
		} >"$OUT/$dom/$name.err"
		rm -f "$OUT/$dom/$name.err.tmp"
	fi
	return $rc
}

json_args() {
	local a s='' first=1
	for a in "$@"; do
		a=${a//\\/\\\\}
		a=${a//\"/\\\"}
		[ $first = 1 ] || s+=,
		s+="\"$a\""
		first=0
	done
	echo "[$s]"
}

# capexec DOM NAME PATH ARGS...: guest-exec + guest-exec-status until exited; the first
# "not exited yet" reply and a second read of the finished result are kept as well.
capexec() {
	local dom=$1 name=$2 path=$3 pid i st d=$OUT/$1
	shift 3
	cap "$dom" "$name.guest-exec" \
		"{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"$path\",\"arg\":$(json_args "$@"),\"capture-output\":true}}" ||
		return 0
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$d/$name.guest-exec.json")
	st=$d/$name.guest-exec-status.json
	for i in $(seq 1 120); do
		# (on an error only the .err stays: no stale "exited":false reply as .json)
		cap "$dom" "$name.guest-exec-status" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}" 30 || {
			rm -f "$st"
			say "$dom $name: guest-exec-status failed: $(head -n 1 "$d/$name.guest-exec-status.err")"
			return 0
		}
		if grep -q '"exited":true' "$st"; then
			sed -n 's/.*"out-data":"\([^"]*\)".*/\1/p' "$st" | base64 -d >"$d/$name.stdout" 2>/dev/null || true
			sed -n 's/.*"err-data":"\([^"]*\)".*/\1/p' "$st" | base64 -d >"$d/$name.stderr" 2>/dev/null || true
			[ -s "$d/$name.stdout" ] || rm -f "$d/$name.stdout"
			[ -s "$d/$name.stderr" ] || rm -f "$d/$name.stderr"
			say "$dom $name: $(grep -o '"exitcode":[0-9]*' "$st" || echo no-exitcode)"
			return 0
		fi
		[ "$i" -gt 1 ] || cp "$st" "$d/$name.guest-exec-status.running.json"
		sleep 0.3
	done
	say "$dom $name: still running after 120 polls"
}

rm -rf "$OUT"
mkdir -p "$OUT"
say "writing to $OUT"

for d in lab-debian lab-busybox lab-windows lab-noexec lab-twonic lab-ipv6; do
	for c in guest-info guest-get-osinfo guest-network-get-interfaces guest-get-host-name guest-ping; do
		cap "$d" "$c" "{\"execute\":\"$c\"}" || true
	done
done

G=$VMCHECK_LAB_GATEWAY4 X=$VMCHECK_LAB_EXTERNAL4 S=$VMCHECK_LAB_SILENT4
for d in lab-debian lab-busybox lab-noexec; do
	capexec "$d" ping-gateway-ok ping -c 1 -W 1 "$G"
	capexec "$d" ping-external-ok ping -c 1 -W 1 "$X"
	capexec "$d" ping-silent-timeout ping -c 1 -W 1 "$S"
	capexec "$d" ping-onlink-unresolved ping -c 1 -W 1 192.0.2.254
done
capexec lab-debian cmd-exe-probe cmd.exe /c ver
capexec lab-debian uname uname -a
capexec lab-ipv6 ping6-external-ok ping -6 -c 1 -W 1 "$VMCHECK_LAB_EXTERNAL6"
capexec lab-ipv6 ping4-external-noroute ping -4 -c 1 -W 1 "$X"
capexec lab-twonic ping-internal-gateway-ok ping -c 1 -W 1 "$VMCHECK_LAB_INTERNAL_GATEWAY4"
capexec lab-badgw ping-gateway-ok ping -c 1 -W 1 "$G"
capexec lab-badgw ping-external-fail ping -c 1 -W 1 "$X"
capexec lab-noping ping-missing ping -c 1 -W 1 "$G"

W=lab-windows
capexec $W cmd-ver cmd.exe /c ver
capexec $W cmd-unknown cmd.exe /c uname
capexec $W route-print route.exe print
capexec $W ping-exe-gateway-ok ping.exe -n 1 -w 1000 "$G"
capexec $W ping-exe-external-ok ping.exe -4 -n 1 -w 1000 "$X"
capexec $W ping-exe-silent-timeout ping.exe -n 1 -w 1000 "$S"
capexec $W ping-exe-onlink-unreachable-exit0 ping.exe -n 1 -w 1000 192.0.2.254
capexec $W ping-exe-ipv6-general-failure ping.exe -6 -n 1 -w 1000 "$VMCHECK_LAB_EXTERNAL6"
capexec $W linux-ping-missing ping -c 1 "$G"
capexec $W uname-missing uname -a

# A finished result can be read once: the second read fails.
capexec lab-debian reread true
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$OUT/lab-debian/reread.guest-exec.json")
cap lab-debian reread.guest-exec-status-again "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}" || true

say "fault cut-outside"
"$LAB" fault cut-outside
capexec lab-debian cut-outside.ping-external ping -c 1 -W 1 "$X"
capexec lab-debian cut-outside.ping-gateway ping -c 1 -W 1 "$G"
capexec $W cut-outside.ping-exe-external-net-unreachable-exit0 ping.exe -n 1 -w 1000 "$X"
"$LAB" fault restore-outside

# Errors libvirt reports.
cap lab-nochannel guest-ping '{"execute":"guest-ping"}' || true
cap lab-nochannel guest-info '{"execute":"guest-info"}' || true
cap lab-noagent guest-ping '{"execute":"guest-ping"}' || true
cap lab-noagent guest-info '{"execute":"guest-info"}' || true
cap lab-paused guest-ping '{"execute":"guest-ping"}' 2 || true
capexec lab-noexec blocked-exec ping -c 1 "$G"
cap lab-noexec blocked-exec-status '{"execute":"guest-exec-status","arguments":{"pid":1}}' || true
cap lab-debian unknown-command '{"execute":"guest-no-such-command"}' || true
capexec lab-flood flood ping -c 1 -W 1 "$G"
for d in lab-debian lab-noagent lab-nochannel lab-twonic lab-paused; do
	V dumpxml "$d" >"$OUT/$d/dumpxml.xml" 2>&1 || true
done
mkdir -p "$OUT/networks"
V net-dumpxml lab-internal >"$OUT/networks/lab-internal.xml" 2>&1 || true

say "fault freeze-agent lab-freeze"
"$LAB" fault freeze-agent lab-freeze
cap lab-freeze frozen.guest-ping '{"execute":"guest-ping"}' 2 || true
cap lab-freeze frozen.guest-exec '{"execute":"guest-exec","arguments":{"path":"true","capture-output":true}}' 2 || true
V dumpxml lab-freeze >"$OUT/lab-freeze/frozen.dumpxml.xml" 2>&1 || true
"$LAB" fault destroy lab-freeze
cap lab-freeze not-running.guest-ping '{"execute":"guest-ping"}' || true
"$LAB" fault start lab-freeze
# libvirt dropped lab-flood's agent connection after the oversized reply: restore it.
"$LAB" fault reset lab-flood
say "done: $(find "$OUT" -type f | wc -l) files in $OUT"
