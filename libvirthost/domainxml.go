package libvirthost

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/vmcheck/vmcheck/checker"
)

// agentChannelName is the virtio-serial port name qemu-ga listens on.
const agentChannelName = "org.qemu.guest_agent.0"

// ResolveURI returns the libvirt URI to use: uri if set, else
// LIBVIRT_DEFAULT_URI, else qemu:///system, as virsh does.
func ResolveURI(uri string) string {
	if uri != "" {
		return uri
	}
	if env := os.Getenv("LIBVIRT_DEFAULT_URI"); env != "" {
		return env
	}
	return "qemu:///system"
}

// ParseDomainXML reads NICs and the agent channel state from a live domain
// XML document. Name, UUID, state and agent are left to the caller.
func ParseDomainXML(doc string) (checker.Domain, error) {
	var x libvirtxml.Domain
	if err := x.Unmarshal(doc); err != nil {
		return checker.Domain{}, fmt.Errorf("parsing domain XML: %w", err)
	}
	d := checker.Domain{Channel: checker.ChannelNone}
	if x.Metadata != nil {
		d.Policy, d.Nova = ParseMetadata(x.Metadata.XML)
	}
	if x.Devices == nil {
		return d, nil
	}
	for _, ch := range x.Devices.Channels {
		if ch.Target == nil || ch.Target.VirtIO == nil || ch.Target.VirtIO.Name != agentChannelName {
			continue
		}
		switch ch.Target.VirtIO.State {
		case "connected":
			d.Channel = checker.ChannelConnected
		case "disconnected":
			d.Channel = checker.ChannelDisconnected
		default:
			d.Channel = checker.ChannelUnknown
		}
	}
	for i, iface := range x.Devices.Interfaces {
		n := checker.NIC{}
		if iface.MAC == nil || iface.MAC.Address == "" {
			return checker.Domain{}, fmt.Errorf("interface %d has no MAC address", i)
		}
		n.MAC = strings.ToLower(iface.MAC.Address)
		if iface.Target != nil {
			n.Device = iface.Target.Dev
		}
		if iface.Model != nil {
			n.Model = iface.Model.Type
		}
		if src := iface.Source; src != nil {
			switch {
			case src.Network != nil:
				n.SourceType, n.Source, n.Bridge = "network", src.Network.Network, src.Network.Bridge
			case src.Bridge != nil:
				n.SourceType, n.Source, n.Bridge = "bridge", src.Bridge.Bridge, src.Bridge.Bridge
			case src.Direct != nil:
				n.SourceType, n.Source = "direct", src.Direct.Dev
			case src.Ethernet != nil:
				n.SourceType = "ethernet"
			case src.User != nil:
				n.SourceType = "user"
			case src.VHostUser != nil:
				n.SourceType = "vhostuser"
			case src.Hostdev != nil:
				n.SourceType = "hostdev"
			}
		}
		d.NICs = append(d.NICs, n)
	}
	return d, nil
}

// ParseNetworkXML returns the addresses a libvirt network gives its host
// side (its <ip address=… prefix|netmask=…>).
func ParseNetworkXML(doc string) ([]netip.Prefix, error) {
	var x libvirtxml.Network
	if err := x.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("parsing network XML: %w", err)
	}
	var out []netip.Prefix
	for _, ip := range x.IPs {
		a, err := netip.ParseAddr(ip.Address)
		if err != nil {
			return nil, fmt.Errorf("network %q: ip address %q: %w", x.Name, ip.Address, err)
		}
		bits := int(ip.Prefix)
		if ip.Netmask != "" {
			m, err := netip.ParseAddr(ip.Netmask)
			if err != nil || !m.Is4() {
				return nil, fmt.Errorf("network %q: netmask %q is not an IPv4 mask", x.Name, ip.Netmask)
			}
			bits = maskBits(m.As4())
			if bits < 0 {
				return nil, fmt.Errorf("network %q: netmask %q is not contiguous", x.Name, ip.Netmask)
			}
		}
		if bits == 0 {
			bits = a.BitLen()
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return nil, fmt.Errorf("network %q: prefix %d: %w", x.Name, bits, err)
		}
		out = append(out, netip.PrefixFrom(a, p.Bits()))
	}
	return out, nil
}

func maskBits(m [4]byte) int {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}
