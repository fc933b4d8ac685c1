package hostnic

import (
	"context"
	"fmt"

	"github.com/vmcheck/vmcheck/model"
)

// A Proxmox VE NIC with firewall=1: the tap tapNiM is in the firewall
// bridge fwbrNiM, which a veth pair fwlnNiM (in fwbrNiM) – fwprNpM (in the
// VM's bridge vmbrX) joins to that bridge. Each link must be up and in its
// bridge (sysfs).

func init() { register(model.HostKindProxmoxFirewall, inspectPVEFirewall) }

func inspectPVEFirewall(_ context.Context, o Options, n NIC) model.HostSide {
	n.OwnName = true
	tap, why := findTap(o, n)
	if why != "" {
		return unknown(n.Kind, why)
	}
	fwbr := "fwbr" + n.VMID + "i" + n.Index
	fwln := "fwln" + n.VMID + "i" + n.Index
	fwpr := "fwpr" + n.VMID + "p" + n.Index
	facts := []string{fmt.Sprintf("tap %s %s in %s", n.Device, tap.oper, orNone(tap.master))}
	if f := tapDown(n.Device, tap); f != nil {
		return known(n.Kind, facts, f)
	}
	// Each link of the chain, and the bridge it must be in ("" for the
	// firewall bridge itself, which is in none).
	chain := []struct{ dev, bridge string }{{n.Device, fwbr}, {fwbr, ""}, {fwln, fwbr}, {fwpr, n.Bridge}}
	for _, c := range chain {
		l := readLink(o.SysNet, c.dev)
		if c.dev != n.Device {
			facts = append(facts, fmt.Sprintf("%s %s in %s", c.dev, orNone(l.oper), orNone(l.master)))
		}
		if f := fwLinkFault(n, c.dev, c.bridge, l); f != nil {
			return known(n.Kind, facts, f)
		}
	}
	return known(n.Kind, facts, nil)
}

// fwLinkFault is host_tap_down for one link of the firewall chain: missing,
// set down, or not in its bridge.
func fwLinkFault(n NIC, dev, bridge string, l link) *model.HostFault {
	switch {
	case !l.exists:
		return fault(model.CodeHostTapDown, "%s of the Proxmox VE firewall chain of tap %s is missing on the node (tap → fwbr%si%s → fwln/fwpr → %s): restart the VM's NIC (qm reboot %s), or turn the NIC's firewall off and on", dev, n.Device, n.VMID, n.Index, orNone(n.Bridge), n.VMID)
	case !l.adminUp || l.oper == "down":
		return fault(model.CodeHostTapDown, "%s of the Proxmox VE firewall chain of tap %s is down on the node: bring it up (ip link set %s up), and look at what took it down", dev, n.Device, dev)
	case bridge != "" && l.master != bridge:
		return fault(model.CodeHostTapDown, "%s of the Proxmox VE firewall chain of tap %s is in %s, not in %s: put it back (ip link set %s master %s up)", dev, n.Device, orNone(l.master), bridge, dev, bridge)
	}
	return nil
}

// orNone is s, or "none" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
