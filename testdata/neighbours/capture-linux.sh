#!/bin/sh
# Run inside: unshare -n -m sh capture.sh OUTDIR
set -u
out=$1
mount -t sysfs sysfs /sys
ip link set lo up
unshare -n sleep 120 & gwpid=$!
sleep 0.3
ip link add eth0 type veth peer name gw0
ip link set gw0 netns $gwpid
g() { nsenter -t $gwpid -n "$@"; }
g sysctl -qw net.ipv6.conf.all.forwarding=1
g ip link set gw0 up
g ip addr add 192.0.2.1/24 dev gw0
g ip -6 addr add 2001:db8::1/64 dev gw0 nodad
g ip -6 addr add fe80::1/64 dev gw0 nodad
ip addr add 192.0.2.13/24 dev eth0
ip -6 addr add 2001:db8::13/64 dev eth0 nodad
ip link set eth0 up
sleep 2
cap() { # name, argv...
	n=$1; shift
	"$@" >"$out/$n.txt" 2>"$out/$n.stderr.txt"; echo "$n exit $? : $*" >>"$out/exits"
	[ -s "$out/$n.stderr.txt" ] || rm -f "$out/$n.stderr.txt"
}
ping -c1 -W1 192.0.2.1 >/dev/null
ping -c1 -W1 -6 2001:db8::1 >/dev/null
ping -c1 -W1 -6 fe80::1%eth0 >/dev/null 2>&1
ping -c1 -W1 192.0.2.254 >/dev/null
ping -c1 -W1 -6 2001:db8::254 >/dev/null
ip neigh add 192.0.2.7 lladdr 52:54:00:12:34:56 nud permanent dev eth0
ip -6 neigh add 2001:db8::7 lladdr 52:54:00:12:34:57 nud permanent dev eth0
ip neigh add 192.0.2.8 lladdr 52:54:00:12:34:58 nud stale dev eth0
ip -6 neigh add 2001:db8::8 lladdr 52:54:00:12:34:59 nud stale dev eth0
sleep 3
cap linux-arp-up-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-arp-up-busybox /bin/busybox cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-ip6-neigh-iproute2 ip -6 neigh show dev eth0
cap linux-ip6-neigh-busybox /bin/busybox ip -6 neigh show dev eth0
# Incomplete while resolving.
ping -c1 -W3 192.0.2.253 >/dev/null & p1=$!
ping -c1 -W3 -6 2001:db8::253 >/dev/null 2>&1 & p2=$!
sleep 0.5
cap linux-arp-incomplete-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-ip6-neigh-incomplete-iproute2 ip -6 neigh show dev eth0
cap linux-ip6-neigh-incomplete-busybox /bin/busybox ip -6 neigh show dev eth0
wait $p1 $p2; sleep 3
# Peer down: no carrier.
g ip link set gw0 down
sleep 0.5
cap linux-arp-nocarrier-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-arp-nocarrier-busybox /bin/busybox cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-ip6-neigh-nocarrier-iproute2 ip -6 neigh show dev eth0
g ip link set gw0 up
# Interface down.
ip link set eth0 down
sleep 0.5
cap linux-arp-down-cat cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-arp-down-busybox /bin/busybox cat /sys/class/net/eth0/operstate /sys/class/net/eth0/carrier /proc/net/arp
cap linux-ip6-neigh-down-iproute2 ip -6 neigh show dev eth0
cap linux-ip6-neigh-down-busybox /bin/busybox ip -6 neigh show dev eth0
# No such interface.
cap linux-arp-nodev-busybox /bin/busybox cat /sys/class/net/eth9/operstate /sys/class/net/eth9/carrier /proc/net/arp
cap linux-ip6-neigh-nodev-busybox /bin/busybox ip -6 neigh show dev eth9
cap linux-ip6-neigh-nodev-iproute2 ip -6 neigh show dev eth9
kill $gwpid
