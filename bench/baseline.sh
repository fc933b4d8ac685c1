#!/usr/bin/env bash
# bench/baseline.sh — the reference `make bench` measures vmcheck against: what an
# operator writes today to learn whether each running VM reaches its gateway and the
# outside world, with `virsh qemu-agent-command`, one domain after another, polling a
# guest command's status once a second.
#
#   bench/baseline.sh -c URI -e EXTERNAL [-W SECONDS] [DOMAIN...]
#
# The eight steps:
#   1. list the running domains                 virsh list --name --state-running
#   then, for each domain (all of them, or only the DOMAINs named), in turn:
#   2. read its NICs                            guest-network-get-interfaces
#   3. probe for Windows                        guest-exec cmd.exe /c ver
#   4.   and read its status                    guest-exec-status, every second until exited
#   5. ping the external address                guest-exec ping -c 1 -W S (ping.exe -n 1 -w MS)
#   6.   and read its status                    guest-exec-status, every second until exited
#   7. ping the gateway                         the first address of the NIC's IPv4 subnet
#   8.   and read its status                    guest-exec-status, every second until exited
#
# A Linux agent cannot spawn cmd.exe (step 3 fails at once): the guest is Linux. A reply
# counts if ping exits 0 (Linux) or prints "TTL=" (Windows, whose ping.exe also exits 0
# for "Destination host unreachable"). Output: one line per domain,
#   NAME OS external=ok|fail|error gateway=ok|fail|error|none
# Exit status: 0 if every probe passed, 1 otherwise. Needs virsh, base64, sed, grep.
set -uo pipefail

URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
EXTERNAL=''
WAIT=2
while getopts 'c:e:W:h' opt; do
	case $opt in
	c) URI=$OPTARG ;;
	e) EXTERNAL=$OPTARG ;;
	W) WAIT=$OPTARG ;;
	*)
		sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
[ -n "$EXTERNAL" ] || {
	echo "baseline: -e EXTERNAL is required" >&2
	exit 2
}

# agent DOMAIN JSON: one agent command; the reply on stdout.
agent() { virsh -q -c "$URI" qemu-agent-command "$1" "$2" --timeout 10 2>&1; }

# run DOMAIN PATH ARG...: guest-exec, then guest-exec-status once a second until the
# process exited. Sets CODE (exit code, or "" when it could not run) and OUT (stdout).
run() {
	local dom=$1 path=$2 args='' a reply pid st
	shift 2
	for a in "$@"; do args+="${args:+,}\"$a\""; done
	CODE='' OUT=''
	reply=$(agent "$dom" "{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"$path\",\"arg\":[$args],\"capture-output\":true}}") || return 1
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$reply")
	[ -n "$pid" ] || return 1
	while :; do
		sleep 1
		st=$(agent "$dom" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 1
		case $st in *'"exited":true'*) break ;; esac
	done
	CODE=$(sed -n 's/.*"exitcode":\([0-9-]*\).*/\1/p' <<<"$st")
	OUT=$(sed -n 's/.*"out-data":"\([^"]*\)".*/\1/p' <<<"$st" | base64 -d 2>/dev/null | tr -d '\0')
	return 0
}

# ping DOMAIN OS ADDR: ok, fail or error.
ping_from() {
	local dom=$1 os=$2 addr=$3
	if [ "$os" = windows ]; then
		run "$dom" ping.exe -n 1 -w $((WAIT * 1000)) "$addr" || {
			echo error
			return
		}
		case $OUT in *TTL=*) echo ok ;; *) echo fail ;; esac
	else
		run "$dom" ping -c 1 -W "$WAIT" "$addr" || {
			echo error
			return
		}
		case $CODE in 0) echo ok ;; 1) echo fail ;; *) echo error ;; esac
	fi
}

# gateway_of "A.B.C.D/LEN": the first address of the subnet.
gateway_of() {
	local ip=${1%/*} len=${1#*/} a b c d n
	IFS=. read -r a b c d <<<"$ip"
	n=$(((a << 24 | b << 16 | c << 8 | d) & (0xffffffff << (32 - len)) & 0xffffffff))
	n=$((n + 1))
	echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

# Step 1.
mapfile -t running < <(virsh -q -c "$URI" list --name --state-running | sed '/^$/d')
if [ $# -gt 0 ]; then
	wanted=" $* "
	doms=()
	for d in "${running[@]}"; do [[ $wanted == *" $d "* ]] && doms+=("$d"); done
else
	doms=("${running[@]}")
fi

status=0
for dom in "${doms[@]}"; do
	# Step 2.
	nics=$(agent "$dom" '{"execute":"guest-network-get-interfaces"}') || {
		echo "$dom unknown external=error gateway=error (agent: $(head -n 1 <<<"$nics"))"
		status=1
		continue
	}
	cidr=$(grep -o '"ip-address":"[0-9.]*","prefix":[0-9]*' <<<"$nics" |
		sed 's/"ip-address":"\([0-9.]*\)","prefix":\([0-9]*\)/\1\/\2/' | grep -v '^127\.' | head -n 1)
	# Steps 3 and 4.
	os=linux
	if run "$dom" cmd.exe /c ver && [[ $OUT == *"Microsoft Windows"* ]]; then os=windows; fi
	# Steps 5 and 6.
	ext=$(ping_from "$dom" "$os" "$EXTERNAL")
	# Steps 7 and 8.
	if [ -n "$cidr" ]; then gw=$(ping_from "$dom" "$os" "$(gateway_of "$cidr")"); else gw=none; fi
	echo "$dom $os external=$ext gateway=$gw"
	[ "$ext" = ok ] && [ "$gw" = ok ] || status=1
done
exit $status
