package domainxml

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/model"
)

// agentChannelName is the virtio-serial port name qemu-ga listens on.
const agentChannelName = "org.qemu.guest_agent.0"

// ParseDomainXML reads NICs and the agent channel state from a live domain
// XML document, with what the domain's metadata says of each NIC: Nova's
// fixed addresses of the NIC's port and vmcheck's <vmcheck:nic> facts (see
// nicFacts). Name, UUID, state, agent and the libvirt network's facts are
// left to the caller.
func ParseDomainXML(doc string) (model.Domain, error) {
	return ParseDomain(doc, hostnic.Options{})
}

// ParseDomain is ParseDomainXML, each NIC's host side read as o says
// (NIC.HostKind, NIC.Host).
func ParseDomain(doc string, o hostnic.Options) (model.Domain, error) {
	var x libvirtxml.Domain
	if err := x.Unmarshal(doc); err != nil {
		return model.Domain{}, fmt.Errorf("parsing domain XML: %w", err)
	}
	d := model.Domain{Channel: model.ChannelNone}
	var md Metadata
	if x.Metadata != nil {
		md = ParseMetadata(x.Metadata.XML)
		d.Policy, d.Nova = md.Policy, md.Nova
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
			d.Channel = model.ChannelConnected
		case "disconnected":
			d.Channel = model.ChannelDisconnected
		default:
			d.Channel = model.ChannelUnknown
		}
	}
	for i, iface := range x.Devices.Interfaces {
		n := model.NIC{}
		if iface.MAC == nil || iface.MAC.Address == "" {
			return model.Domain{}, fmt.Errorf("interface %d has no MAC address", i)
		}
		n.MAC = nicMAC(iface.MAC.Address)
		if iface.Target != nil {
			n.Device = iface.Target.Dev
		}
		if iface.Model != nil {
			n.Model = iface.Model.Type
		}
		n.LinkDown = iface.Link != nil && iface.Link.State == "down"
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
		port := nicFacts(&n, interfaceID(iface.VirtualPort), md)
		h := hostNIC(iface, n, port)
		n.HostKind, n.Host = h.Kind, o.Inspector(h)
		d.NICs = append(d.NICs, n)
	}
	return d, nil
}

// nicFacts fills a NIC's expected addresses and gateways from the domain's
// metadata: first the fixed addresses of the Nova port whose id is the
// NIC's virtualport interfaceid, or whose tap device is "tap" + the first
// 11 characters of the id (Nova's NIC_NAME_LEN of 14); then vmcheck's
// <vmcheck:nic> facts for its MAC. It returns the id of the Nova port it
// took, "" if none.
func nicFacts(n *model.NIC, ifaceID string, md Metadata) (novaPort string) {
	for _, p := range md.Ports {
		if (ifaceID != "" && p.ID == ifaceID) || (len(p.ID) >= 11 && n.Device == "tap"+p.ID[:11]) {
			for _, a := range p.Fixed {
				n.Expected = model.AppendExpected(n.Expected, a, "nova")
			}
			novaPort = p.ID
			break
		}
	}
	for _, f := range md.NICs {
		if f.MAC != n.MAC.String() {
			continue
		}
		if f.Address.IsValid() {
			n.Expected = model.AppendExpected(n.Expected, f.Address, "metadata")
		}
		if f.Gateway.IsValid() {
			n.Gateways = model.AppendExpected(n.Gateways, f.Gateway, "metadata")
		}
	}
	return novaPort
}

// interfaceID is the <virtualport><parameters interfaceid=…/> of an
// interface (Open vSwitch, MidoNet, or a virtualport of no type), lower-case;
// "" if it has none.
func interfaceID(vp *libvirtxml.DomainInterfaceVirtualPort) string {
	if vp == nil || vp.Params == nil {
		return ""
	}
	var id string
	switch p := vp.Params; {
	case p.OpenVSwitch != nil:
		id = p.OpenVSwitch.InterfaceID
	case p.MidoNet != nil:
		id = p.MidoNet.InterfaceID
	case p.Any != nil:
		id = p.Any.InterfaceID
	}
	return strings.ToLower(strings.TrimSpace(id))
}

// MaxDHCPEntries bounds the DHCP host entries, and separately the leases,
// read of one libvirt network.
const MaxDHCPEntries = 4096

// Network is what vmcheck reads of a libvirt network: its host-side
// addresses, which act as its NICs' gateway, and the addresses its DHCP
// server gives each MAC.
type Network struct {
	// Addrs are the network's <ip address=… prefix|netmask=…>.
	Addrs []netip.Prefix
	// Hosts are its <ip><dhcp><host mac=… ip=…/> entries by MAC
	// (guestagent.NormalMAC form).
	Hosts map[string][]netip.Addr
	// Leases are its DHCP leases by MAC (see AddLeases).
	Leases map[string][]netip.Addr
}

// Lease is one DHCP lease of a libvirt network (virNetworkGetDHCPLeases).
type Lease struct {
	MAC  string
	Addr string
}

// ParseNetworkXML returns the addresses a libvirt network gives its host
// side (its <ip address=… prefix|netmask=…>).
func ParseNetworkXML(doc string) ([]netip.Prefix, error) {
	n, err := ParseNetwork(doc)
	return n.Addrs, err
}

// ParseNetwork reads a libvirt network's XML: its host-side addresses and
// its DHCP host entries. Host entries without a MAC (IPv6 ones name a DUID)
// or with an invalid MAC or address are skipped; at most MaxDHCPEntries
// are kept, and at most model.MaxExpectedAddrs per MAC.
func ParseNetwork(doc string) (Network, error) {
	var x libvirtxml.Network
	if err := x.Unmarshal(doc); err != nil {
		return Network{}, fmt.Errorf("parsing network XML: %w", err)
	}
	var out Network
	kept := 0
	for _, ip := range x.IPs {
		p, err := networkPrefix(x.Name, ip)
		if err != nil {
			return Network{}, err
		}
		out.Addrs = append(out.Addrs, p)
		if ip.DHCP == nil {
			continue
		}
		for _, h := range ip.DHCP.Hosts {
			if kept >= MaxDHCPEntries {
				break
			}
			if out.Hosts == nil {
				out.Hosts = map[string][]netip.Addr{}
			}
			if addToMAC(out.Hosts, h.MAC, h.IP) {
				kept++
			}
		}
	}
	return out, nil
}

// networkPrefix reads one <ip address=… prefix|netmask=…> of network name.
func networkPrefix(name string, ip libvirtxml.NetworkIP) (netip.Prefix, error) {
	a, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network %q: ip address %q: %w", name, ip.Address, err)
	}
	bits := int(ip.Prefix)
	if ip.Netmask != "" {
		m, err := netip.ParseAddr(ip.Netmask)
		if err != nil || !m.Is4() {
			return netip.Prefix{}, fmt.Errorf("network %q: netmask %q is not an IPv4 mask", name, ip.Netmask)
		}
		bits = maskBits(m.As4())
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("network %q: netmask %q is not contiguous", name, ip.Netmask)
		}
	}
	if bits == 0 {
		bits = a.BitLen()
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network %q: prefix %d: %w", name, bits, err)
	}
	return netip.PrefixFrom(a, p.Bits()), nil
}

// AddLeases records the network's DHCP leases, at most MaxDHCPEntries;
// leases with an invalid MAC or address are skipped.
func (n *Network) AddLeases(leases []Lease) {
	kept := 0
	for _, l := range leases {
		if kept >= MaxDHCPEntries {
			return
		}
		if n.Leases == nil {
			n.Leases = map[string][]netip.Addr{}
		}
		if addToMAC(n.Leases, l.MAC, l.Addr) {
			kept++
		}
	}
}

// addToMAC adds addr to m[mac] when both are valid, the address is new and
// the MAC has fewer than model.MaxExpectedAddrs; it reports whether it
// did.
func addToMAC(m map[string][]netip.Addr, mac, addr string) bool {
	key, ok := guestagent.NormalMAC(strings.TrimSpace(mac))
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil || model.ValidateExpected(a) != nil || len(m[key]) >= model.MaxExpectedAddrs || slices.Contains(m[key], a) {
		return false
	}
	m[key] = append(m[key], a)
	return true
}

// Expected returns the addresses the network's DHCP server gives the NIC
// with MAC mac, with Source "libvirt-dhcp": its host entries, then its
// leases of an address family no host entry names (a host entry wins over
// a lease).
func (n Network) Expected(mac guestagent.MAC) []model.ExpectedAddr {
	if !mac.Valid() {
		return nil
	}
	key := mac.String()
	var out []model.ExpectedAddr
	has4, has6 := false, false
	for _, a := range n.Hosts[key] {
		out = model.AppendExpected(out, a, "libvirt-dhcp")
		has4, has6 = has4 || a.Is4(), has6 || a.Is6()
	}
	for _, a := range n.Leases[key] {
		if (a.Is4() && !has4) || (a.Is6() && !has6) {
			out = model.AppendExpected(out, a, "libvirt-dhcp")
		}
	}
	return out
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

// nicMAC is a domain interface's <mac address=…> as a guestagent.MAC.
// libvirt writes only valid MACs, in canonical form; anything else is kept
// lower-cased, as vmcheck always did, so that such a NIC is still listed
// (it matches no guest interface and no metadata).
func nicMAC(addr string) guestagent.MAC {
	if mac, ok := guestagent.ParseMAC(addr); ok {
		return mac
	}
	return guestagent.MAC(strings.ToLower(addr))
}
