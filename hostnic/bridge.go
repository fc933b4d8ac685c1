package hostnic

import (
	"context"
	"fmt"

	"github.com/vmcheck/vmcheck/model"
)

// A Linux bridge NIC: its tap, up, in the bridge the domain names, and
// the bridge up (sysfs, /sys/class/net/TAP/{address,operstate,flags,master}).

func init() { register(model.HostKindBridge, inspectBridge) }

// ovsDatapath is the master of a tap on Open vSwitch's kernel datapath.
const ovsDatapath = "ovs-system"

func inspectBridge(_ context.Context, o Options, n NIC) model.HostSide {
	tap, why := findTap(o, n)
	if why != "" {
		return unknown(n.Kind, why)
	}
	facts := []string{fmt.Sprintf("tap %s %s", n.Device, tap.oper)}
	if f := tapDown(n.Device, tap); f != nil {
		return known(n.Kind, facts, f)
	}
	if n.Bridge == "" {
		return known(n.Kind, facts, nil)
	}
	switch tap.master {
	case n.Bridge:
		facts = append(facts, "in bridge "+n.Bridge)
	case ovsDatapath:
		return unknown(n.Kind, fmt.Sprintf("the tap %s is on Open vSwitch (master %s), not in a Linux bridge: the domain does not say it is an OVS port", n.Device, ovsDatapath), facts...)
	case "":
		return known(n.Kind, facts, fault(model.CodeHostTapDown,
			"the tap %s is in no bridge on the node, not in %s: put it back (ip link set %s master %s up), and look at what took it out", n.Device, n.Bridge, n.Device, n.Bridge))
	default:
		return known(n.Kind, facts, fault(model.CodeHostTapDown,
			"the tap %s is in %s on the node, not in %s: move it (ip link set %s nomaster; ip link set %s master %s up), and look at what moved it", n.Device, tap.master, n.Bridge, n.Device, n.Device, n.Bridge))
	}
	if br := readLink(o.SysNet, n.Bridge); br.exists && !br.adminUp {
		return known(n.Kind, append(facts, "bridge "+n.Bridge+" down"), fault(model.CodeHostTapDown,
			"the bridge %s of tap %s is set down on the node: bring it up (ip link set %s up)", n.Bridge, n.Device, n.Bridge))
	}
	return known(n.Kind, facts, nil)
}

// findTap reads the NIC's tap, or says why vmcheck cannot see it: no such
// device here (vmcheck does not run in the taps' network namespace), or
// the device there is not this NIC's tap — libvirt gives a tap the NIC's
// MAC with the first byte fe, which is checked so that another libvirtd's
// vnet0 is never taken for it (Proxmox VE's tapNiM names are the VM's own).
func findTap(o Options, n NIC) (link, string) {
	if n.Device == "" {
		return link{}, "the domain names no host device for this NIC"
	}
	tap := readLink(o.SysNet, n.Device)
	if !tap.exists {
		return link{}, fmt.Sprintf("no device %s here: vmcheck does not run in the network namespace of the VM's taps", n.Device)
	}
	if !n.OwnName && !isTapOf(tap.addr, n.MAC) {
		return link{}, fmt.Sprintf("the device %s here is not this NIC's tap (address %s): vmcheck does not run in the network namespace of the VM's taps", n.Device, tap.addr)
	}
	return tap, ""
}

// tapDown is host_tap_down for a tap set down, nil when it is up.
func tapDown(dev string, tap link) *model.HostFault {
	if tap.adminUp && tap.oper != "down" {
		return nil
	}
	return fault(model.CodeHostTapDown, "the tap %s is down on the node: bring it up (ip link set %s up), and look at what took it down", dev, dev)
}
