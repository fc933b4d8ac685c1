package hostnic

import (
	"context"
	"fmt"

	"github.com/vmcheck/vmcheck/model"
)

// A macvtap NIC (<interface type='direct'>): its lower device (the source
// dev) and the macvtap itself, up (sysfs). The mode (bridge, vepa,
// private, passthrough) is a fact: in vepa and private mode, traffic
// between VMs of one lower device goes through the external switch.

func init() { register(model.HostKindDirect, inspectMacvtap) }

func inspectMacvtap(_ context.Context, o Options, n NIC) model.HostSide {
	if n.Lower == "" {
		return unknown(n.Kind, "the domain names no lower device (source dev) for this macvtap")
	}
	lower := readLink(o.SysNet, n.Lower)
	if !lower.exists {
		return unknown(n.Kind, fmt.Sprintf("no device %s here: vmcheck does not run in the network namespace of the macvtap's lower device", n.Lower))
	}
	mode := n.Mode
	if mode == "" {
		mode = "vepa" // libvirt's default
	}
	facts := []string{fmt.Sprintf("lower device %s %s", n.Lower, lower.oper), "mode " + mode}
	if !lower.adminUp || down(lower.oper) {
		why := "down"
		if lower.adminUp {
			why = "without link (" + lower.oper + "): its cable, switch port or veth peer is down"
		}
		return known(n.Kind, facts, fault(model.CodeHostMacvtapLowerDown,
			"the macvtap's lower device %s is %s on the node: bring it up (ip link set %s up) and check its link (ip -d link show %s)", n.Lower, why, n.Lower, n.Lower))
	}
	if n.Device == "" {
		return known(n.Kind, facts, nil)
	}
	mv := readLink(o.SysNet, n.Device)
	if !mv.exists || !sameMAC(mv.addr, n.MAC) {
		return known(n.Kind, facts, nil) // not this NIC's macvtap: the lower device is what matters
	}
	facts = append(facts, fmt.Sprintf("macvtap %s %s", n.Device, mv.oper))
	if !mv.adminUp {
		return known(n.Kind, facts, fault(model.CodeHostTapDown,
			"the macvtap %s is set down on the node (its lower device %s is up): bring it up (ip link set %s up)", n.Device, n.Lower, n.Device))
	}
	return known(n.Kind, facts, nil)
}
