#!/bin/sh
# arping as osdetect's evidence asks the gateway afresh when busybox ip
# shows a REACHABLE entry without a confirmation time:
# busybox arping -f -c 2 -w 2 -I eth0 GW. Answered, unanswered (nobody
# holds the address) and no such interface.
# Run inside: unshare -n -m sh capture-arping.sh OUTDIR
set -u
out=$1
ip link set lo up
unshare -n sleep 60 & gwpid=$!
sleep 0.3
ip link add eth0 type veth peer name gw0
ip link set gw0 netns $gwpid
g() { nsenter -t $gwpid -n "$@"; }
g ip link set gw0 address 52:54:00:0c:ff:01 up
g ip addr add 192.0.2.1/24 dev gw0
ip addr add 192.0.2.13/24 dev eth0
ip link set eth0 up
sleep 2
: >"$out/exits-arping"
cap() { # name, argv...
	n=$1; shift
	"$@" >"$out/$n.txt" 2>"$out/$n.stderr.txt"; echo "$n exit $? : $*" >>"$out/exits-arping"
	[ -s "$out/$n.stderr.txt" ] || rm -f "$out/$n.stderr.txt"
}
cap linux-arping-answered-busybox busybox arping -f -c 2 -w 2 -I eth0 192.0.2.1
cap linux-arping-noanswer-busybox busybox arping -f -c 2 -w 2 -I eth0 192.0.2.254
cap linux-arping-nodev-busybox busybox arping -f -c 2 -w 2 -I eth9 192.0.2.1
kill $gwpid
