#!/bin/sh
# The NUD states of the gateway's entry as osdetect's evidence commands see
# them (ip [-s] -4|-6 neigh show dev eth0, iproute2 and busybox, and
# cat operstate carrier), through the kernel's own transitions after a
# failed ping: REACHABLE, STALE, DELAY, PROBE, FAILED.
# Run inside: unshare -n -m sh capture-linux-nud.sh OUTDIR
set -u
out=$1
mount -t sysfs sysfs /sys
ip link set lo up
unshare -n sleep 300 & gwpid=$!
sleep 0.3
ip link add eth0 type veth peer name gw0
ip link set gw0 netns $gwpid
g() { nsenter -t $gwpid -n "$@"; }
g sysctl -qw net.ipv6.conf.all.forwarding=1
g ip link set gw0 up
g ip addr add 192.0.2.1/24 dev gw0
g ip -6 addr add 2001:db8::1/64 dev gw0 nodad
ip addr add 192.0.2.13/24 dev eth0
ip -6 addr add 2001:db8::13/64 dev eth0 nodad
ip link set eth0 up
sleep 2
: >"$out/exits-nud"
cap() { # name, argv...
	n=$1; shift
	"$@" >"$out/$n.txt" 2>"$out/$n.stderr.txt"; echo "$n exit $? : $*" >>"$out/exits-nud"
	[ -s "$out/$n.stderr.txt" ] || rm -f "$out/$n.stderr.txt"
}
# neigh NAME: the v4 entry by iproute2, iproute2 -s and busybox.
neigh() {
	cap "linux-neigh4-$1-iproute2" ip -4 neigh show dev eth0
	cap "linux-neigh4-$1-iproute2-s" ip -s -4 neigh show dev eth0
	cap "linux-neigh4-$1-busybox" busybox ip -4 neigh show dev eth0
}
ms() { date +%s%3N; }
# REACHABLE: confirmed just now by the answer to the ping's ARP request.
ping -c1 -W1 192.0.2.1 >/dev/null
ping -c1 -W1 -6 2001:db8::1 >/dev/null
sleep 1
neigh reachable
cap linux-neigh6-reachable-iproute2-s ip -s -6 neigh show dev eth0
cap linux-neigh-s-busybox busybox ip -s -4 neigh show dev eth0
cap linux-link-up-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier
# STALE: what the entry becomes 15-45 s after its last confirmation
# (base_reachable_time 30 s, randomised); set at once here with nud stale.
mac=$(ip -4 neigh show 192.0.2.1 dev eth0 | awk '{print $3}')
stale() { ip neigh change 192.0.2.1 lladdr "$mac" nud stale dev eth0; }
stale
neigh stale
# The gateway drops echo requests, ARP untouched: the failed ping moves
# STALE to DELAY; 5 s later the kernel probes, the gateway answers: REACHABLE.
g iptables -A INPUT -p icmp --icmp-type echo-request -j DROP
t0=$(ms)
stale
ping -c1 -W1 192.0.2.1 >/dev/null; echo "drop-icmp ping exit $?" >>"$out/exits-nud"
neigh delay-dropicmp
sleep $(( (8500 - ($(ms) - t0)) / 1000 ))
while [ $(( $(ms) - t0 )) -lt 8500 ]; do sleep 0.1; done
echo "drop-icmp second read at $(( $(ms) - t0 )) ms" >>"$out/exits-nud"
neigh reachable-dropicmp
g iptables -F INPUT
# The gateway is gone (its address removed): DELAY, PROBE, FAILED.
g ip addr del 192.0.2.1/24 dev gw0
stale
t0=$(ms)
ping -c1 -W1 192.0.2.1 >/dev/null; echo "absent ping exit $?" >>"$out/exits-nud"
neigh delay-absent
while [ $(( $(ms) - t0 )) -lt 6000 ]; do sleep 0.1; done
neigh probe-absent
while [ $(( $(ms) - t0 )) -lt 8500 ]; do sleep 0.1; done
echo "absent third read at $(( $(ms) - t0 )) ms" >>"$out/exits-nud"
neigh failed-absent
# REACHABLE confirmed before the check: the gateway back, confirmed, then
# gone; a failed ping 5 s later finds the entry still REACHABLE.
g ip addr add 192.0.2.1/24 dev gw0
ping -c1 -W1 192.0.2.1 >/dev/null
g ip addr del 192.0.2.1/24 dev gw0
sleep 5
ping -c1 -W1 192.0.2.1 >/dev/null; echo "absent-reachable ping exit $?" >>"$out/exits-nud"
neigh reachable-absent
# Interface down: the table is flushed; the carrier cannot be read.
ip link set eth0 down
sleep 0.5
neigh down
cap linux-link-down-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier
cap linux-link-nodev-cat cat /sys/class/net/eth9/operstate /sys/class/net/eth9/carrier
kill $gwpid
