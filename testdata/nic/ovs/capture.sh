#!/bin/bash
# Captures the answers in this folder from a real Open vSwitch (Debian 12's
# openvswitch-switch 3.1, userspace datapath): run as root with ovsdb-server
# and ovs-vswitchd started in network namespace $NS on the socket $DB (see
# ../../../../shared/LAB-FACTS.md), after
#   ovs-vsctl --db=unix:$DB add-br br-int -- set bridge br-int datapath_type=netdev
#   ovs-vsctl --db=unix:$DB add-br br-ex -- set bridge br-ex datapath_type=netdev
# Each file is what hostnic's ovsVsctlArgs (the same argv) prints; a tap is
# "held" by a process that attaches to it as QEMU does (TUNSETIFF), which
# gives it carrier.
set -euo pipefail
NS=${NS:?netns}; DB=${DB:?socket}; HOLD=${HOLD:?tap holder script}
V=(ovs-vsctl "--db=unix:$DB" --timeout=5)
q() { # q NAME FILE
	"${V[@]}" --format=json -- --columns=_uuid,name,type,ofport,admin_state,link_state,external_ids,error,options find Interface "name=$1" \
		-- --columns=_uuid,name,interfaces find Port "name=$1" -- --columns=name,ports,datapath_type list Bridge \
		-- --columns=external_ids list Open_vSwitch >"$2"
}
T=tap5a7e0c11-3d
plug() { # plug BRIDGE TAP: as libvirt's virNetDevOpenvswitchAddPort does
	"${V[@]}" -- --may-exist add-port "$1" "$2" -- set Interface "$2" 'external-ids:attached-mac="52:54:00:12:34:56"' \
		-- set Interface "$2" 'external-ids:iface-id="5a7e0c11-3d4f-4b6e-9f0a-2b8c1d3e4f5a"' \
		-- set Interface "$2" 'external-ids:vm-id="11111111-2222-3333-4444-555555555555"' -- set Interface "$2" external-ids:iface-status=active
}
ip netns exec "$NS" ip tuntap add dev $T mode tap 2>/dev/null || true
ip netns exec "$NS" ip link set $T address fe:54:00:12:34:56 up
plug br-int $T
ip netns exec "$NS" python3 "$HOLD" $T 60 & holder=$!
sleep 2; q $T healthy.json
ip netns exec "$NS" ip link set $T down; sleep 2; q $T admin-down.json
ip netns exec "$NS" ip link set $T up; sleep 1
kill $holder; wait $holder 2>/dev/null || true; sleep 2; q $T link-down.json
q tapnothere-00 no-interface.json
plug br-int tapgone000-00; sleep 1; q tapgone000-00 ofport-missing.json
"${V[@]}" del-port br-int tapgone000-00
"${V[@]}" del-port br-int $T; plug br-ex $T; sleep 1; q $T wrong-bridge.json
"${V[@]}" del-port br-ex $T; plug br-int $T
"${V[@]}" set Open_vSwitch . external_ids:ovn-remote=unix:/nonexistent external_ids:ovn-bridge=br-int
"${V[@]}" set Interface $T external_ids:ovn-installed=true
ip netns exec "$NS" python3 "$HOLD" $T 60 & holder=$!
sleep 2; q $T ovn-healthy.json
kill $holder; wait $holder 2>/dev/null || true
"${V[@]}" remove Open_vSwitch . external_ids ovn-remote -- remove Open_vSwitch . external_ids ovn-bridge
# A dpdkvhostuserclient port as os-vif plugs one (OVS without DPDK cannot open it), read by
# its vhost-server-path as hostnic reads a vhost-user socket QEMU serves.
S=/var/lib/vhost_sockets/vhu6d2adb84-44
"${V[@]}" add-port br-int vhu6d2adb84-44 -- set Interface vhu6d2adb84-44 type=dpdkvhostuserclient options:vhost-server-path=$S \
	'external-ids:attached-mac="fa:16:3e:e3:07:55"' 'external-ids:iface-id="6d2adb84-4424-4b67-a857-2a162f7b90f9"' \
	external-ids:iface-status=active 'external-ids:vm-uuid="8cf55d08-dce2-4453-9df3-24486af7c550"' || true
"${V[@]}" --format=json -- --columns=_uuid,name,type,ofport,admin_state,link_state,external_ids,error,options find Interface "options:vhost-server-path=\"$S\"" \
	-- --columns=_uuid,name,interfaces list Port -- --columns=name,ports,datapath_type list Bridge \
	-- --columns=external_ids list Open_vSwitch >vhostuser-nodpdk.json
"${V[@]}" del-port br-int vhu6d2adb84-44
