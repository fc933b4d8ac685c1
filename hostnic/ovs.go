package hostnic

import (
	"context"
	"fmt"

	"github.com/vmcheck/vmcheck/model"
)

// An Open vSwitch NIC (libvirt <virtualport type='openvswitch'>, as Nova
// plugs ML2/OVS and OVN ports): the tap's Interface row (ofport, admin and
// link state, error, external_ids:iface-id) and the bridge whose port
// holds it, from the OVSDB (ovs-vsctl). Its kernel master is ovs-system or
// none, never the bridge: sysfs cannot tell.
//
// OVN is named where the iface-id is an OVN logical port: the interface
// carries ovn-controller's external_ids:ovn-installed, or the node's
// Open_vSwitch row has ovn-remote (ovn-controller configured) and the port
// is on its ovn-bridge (default br-int). A missing ovn-installed is a
// fact, not a cause (OVN before 20.09 never sets it).

func init() { register(model.HostKindOpenVSwitch, inspectOVS) }

func inspectOVS(ctx context.Context, o Options, n NIC) model.HostSide {
	if !validName(n.Device) {
		return unknown(n.Kind, "the domain names no tap for this Open vSwitch port")
	}
	p, err := readOVS(ctx, o, ovsQuery{name: n.Device})
	if err != nil {
		return unknown(n.Kind, fmt.Sprintf("cannot read Open vSwitch's database %s: %v", o.OVSDB, err))
	}
	facts := p.facts(n.Device)
	if p.bridge == "" {
		// Not on Open vSwitch: a fault only when the tap is here, this
		// NIC's, so that the database read is the node's.
		if _, why := findTap(o, n); why != "" {
			return unknown(n.Kind, fmt.Sprintf("Open vSwitch (%s) has no port %s, and %s: vmcheck may read another Open vSwitch than the VM's (--ovsdb)", o.OVSDB, n.Device, why), facts...)
		}
	}
	if id := p.externalID["iface-id"]; n.NovaPort != "" && trimmedID(id) == trimmedID(n.NovaPort) {
		facts = append(facts, "iface-id is the Nova port of this NIC (instance metadata)")
	}
	if p.isOVN() {
		facts = append(facts, "OVN logical port "+orNone(p.externalID["iface-id"]))
		if _, ok := p.externalID["ovn-installed"]; !ok {
			facts = append(facts, "no external_ids:ovn-installed: ovn-controller has not reported the port's flows installed")
		}
	}
	return known(n.Kind, facts, ovsFault(n, p))
}

// ovsFault is host_ovs_port_down for what is wrong with the port, nil when
// nothing is.
func ovsFault(n NIC, p ovsPort) *model.HostFault {
	br, t := orNone(n.Bridge), n.Device
	plug := fmt.Sprintf("plug it as libvirt does (ovs-vsctl --may-exist add-port %s %s -- set Interface %s external_ids:iface-id=%s external_ids:attached-mac=%s external_ids:iface-status=active), or have Nova plug it again (openstack server reboot --hard)",
		br, t, t, orNone(n.InterfaceID), n.MAC)
	ovn := ""
	if p.isOVN() {
		ovn = fmt.Sprintf("; with OVN, check that this chassis binds the logical port (ovn-sbctl find Port_Binding logical_port=%s)", orNone(p.externalID["iface-id"]))
	}
	id := trimmedID(p.externalID["iface-id"])
	switch {
	case !p.found:
		return fault(model.CodeHostOVSPortDown, "the tap %s is not an Open vSwitch interface (no Interface row), not on %s: %s", t, br, plug)
	case p.bridge == "":
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch interface %s is on no bridge, not on %s: %s", t, br, plug)
	case n.Bridge != "" && p.bridge != n.Bridge:
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch port %s is on bridge %s, not on %s: move it (ovs-vsctl del-port %s %s), then %s", t, p.bridge, br, p.bridge, t, plug)
	case p.notAttached() != "":
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch port %s on %s is not attached (%s): check the tap (ip link show %s; ovs-vsctl get Interface %s error), then re-add it (ovs-vsctl del-port %s %s) and %s%s", t, p.bridge, p.notAttached(), t, t, p.bridge, t, plug, ovn)
	case p.admin == "down":
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch port %s on %s is administratively down (admin_state down): bring it up (ovs-ofctl mod-port %s %s up)%s", t, p.bridge, p.bridge, t, ovn)
	case p.linkState == "down":
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch port %s on %s has no link (link_state down): QEMU does not hold the tap or it was set down (ovs-ofctl show %s; ip link show %s; virsh domiflist DOMAIN)%s", t, p.bridge, p.bridge, t, ovn)
	case n.InterfaceID != "" && id != "" && id != trimmedID(n.InterfaceID):
		return fault(model.CodeHostOVSPortDown, "the Open vSwitch port %s carries iface-id %s, but the domain's port is %s: the network's agent binds another port to it (ovs-vsctl set Interface %s external_ids:iface-id=%s)%s", t, p.externalID["iface-id"], n.InterfaceID, t, n.InterfaceID, ovn)
	}
	return nil
}
