package domainxml

import (
	"fmt"
	"path/filepath"

	"libvirt.org/go/libvirtxml"

	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/model"
)

// hostNIC describes an interface's host side for package hostnic, from its
// live XML: a tap in a Linux bridge or on Open vSwitch (<virtualport
// type='openvswitch'>, also through a libvirt network with a bridge), a
// macvtap (type direct), a vhost-user socket, an SR-IOV VF (type hostdev
// with a PCI address). Anything else (a libvirt network without a bridge,
// type ethernet, user networking) is HostKindOther: its host side is
// unknown.
func hostNIC(iface libvirtxml.DomainInterface, n model.NIC, novaPort string) hostnic.NIC {
	h := hostnic.NIC{Kind: model.HostKindOther, MAC: n.MAC, Device: n.Device, Bridge: n.Bridge,
		InterfaceID: interfaceID(iface.VirtualPort), NovaPort: novaPort}
	src := iface.Source
	if src == nil {
		return h
	}
	ovs := iface.VirtualPort != nil && iface.VirtualPort.Params != nil && iface.VirtualPort.Params.OpenVSwitch != nil
	switch {
	case src.Bridge != nil || (src.Network != nil && n.Bridge != ""):
		h.Kind = model.HostKindBridge
		if ovs {
			h.Kind = model.HostKindOpenVSwitch
		}
	case src.Direct != nil:
		h.Kind, h.Lower, h.Mode = model.HostKindDirect, src.Direct.Dev, src.Direct.Mode
	case src.VHostUser != nil:
		h.Kind = model.HostKindVhostUser
		if c := src.VHostUser.Chardev; c != nil && c.UNIX != nil {
			h.Socket, h.SocketMode = c.UNIX.Path, c.UNIX.Mode
			if h.Device == "" && h.Socket != "" {
				h.Device = filepath.Base(h.Socket) // os-vif names the OVS port after the socket
			}
		}
	case src.Hostdev != nil:
		h.Kind = model.HostKindHostdev
		h.PCI = pciAddress(src.Hostdev)
	}
	return h
}

// pciAddress is a hostdev source's PCI address as sysfs names it
// (0000:03:10.2), "" when the source has none.
func pciAddress(s *libvirtxml.DomainInterfaceSourceHostdev) string {
	if s.PCI == nil || s.PCI.Address == nil {
		return ""
	}
	a := s.PCI.Address
	if a.Domain == nil || a.Bus == nil || a.Slot == nil || a.Function == nil {
		return ""
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", *a.Domain, *a.Bus, *a.Slot, *a.Function)
}
