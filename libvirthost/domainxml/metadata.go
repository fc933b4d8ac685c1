package domainxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/probe"
)

// MetadataNamespace is the XML namespace of vmcheck's per-domain policy in
// a libvirt domain's <metadata>. Set it with
//
//	virsh metadata DOMAIN --uri https://vmcheck.dev/xmlns/1 --key vmcheck \
//	  --set '<check enabled="true" interval="60s" retry_interval="15s"><target>203.0.113.20</target></check>'
const MetadataNamespace = "https://vmcheck.dev/xmlns/1"

// novaNamespacePrefix starts every version of OpenStack Nova's libvirt
// metadata namespace (…/nova/1.0, 1.1, 1.2).
const novaNamespacePrefix = "http://openstack.org/xmlns/libvirt/nova/"

// Bounds on what one domain's metadata may list.
const (
	// maxNovaPorts bounds the Nova ports read; a VM has one per NIC.
	maxNovaPorts = 64
	// maxMetadataNICs bounds the <vmcheck:nic> elements of <vmcheck:check>.
	maxMetadataNICs = 32
)

// xmlCheck is <vmcheck:check enabled=… interval=… retry_interval=…>
// <vmcheck:target>…</…> <vmcheck:probe method=… …/>
// <vmcheck:nic mac=… address=… gateway=…/> <vmcheck:alert …/></…>. Children match in any
// namespace: `virsh metadata --set` puts only the root element in the
// vmcheck namespace, leaving its children in none.
type xmlCheck struct {
	Enabled       string     `xml:"enabled,attr"`
	Interval      string     `xml:"interval,attr"`
	RetryInterval string     `xml:"retry_interval,attr"`
	Targets       []string   `xml:"target"`
	NICs          []xmlNIC   `xml:"nic"`
	Probes        []xmlProbe `xml:"probe"`
	Alerts        []xmlAlert `xml:"alert"`
}

// xmlAlert is <vmcheck:alert notify=… severity=… receiver=… tenant=…/>:
// whom vmcheck's alerts about the domain go to (policy.Alert).
type xmlAlert struct {
	Notify   string `xml:"notify,attr"`
	Severity string `xml:"severity,attr"`
	Receiver string `xml:"receiver,attr"`
	Tenant   string `xml:"tenant,attr"`
}

// xmlProbe is <vmcheck:probe method=… KEY=…/>: one probe of the domain's
// policy, its attributes the keys of the config file's probes.
type xmlProbe struct {
	Attrs []xml.Attr `xml:",any,attr"`
}

// xmlNIC is <vmcheck:nic mac=… address=… gateway=…/>: an address assigned
// to the NIC with that MAC, or its gateway, or both.
type xmlNIC struct {
	MAC     string `xml:"mac,attr"`
	Address string `xml:"address,attr"`
	Gateway string `xml:"gateway,attr"`
}

// xmlNova is the part of <nova:instance> vmcheck reads.
type xmlNova struct {
	Name  string `xml:"name"`
	Owner struct {
		Project string `xml:"project"`
	} `xml:"owner"`
	Ports []xmlNovaPort `xml:"ports>port"`
}

// xmlNovaPort is <nova:port uuid=…><nova:ip type=… address=… ipVersion=…/>,
// as Nova's LibvirtConfigGuestMetaNovaPort writes it (nova/1.1 and later).
type xmlNovaPort struct {
	UUID string `xml:"uuid,attr"`
	IPs  []struct {
		Type      string `xml:"type,attr"`
		Address   string `xml:"address,attr"`
		IPVersion string `xml:"ipVersion,attr"`
	} `xml:"ip"`
}

// Metadata is what vmcheck reads from a domain's <metadata>.
type Metadata struct {
	// Policy is vmcheck's own policy (<vmcheck:check>).
	Policy policy.Policy
	// Nova is the instance's name and project from <nova:instance>.
	Nova model.Nova
	// Ports are Nova's ports (<nova:ports>) with their fixed addresses.
	Ports []NovaPort
	// NICs are the per-NIC facts of <vmcheck:nic> elements; empty when
	// Policy.Error says the vmcheck metadata was ignored.
	NICs []NICFact
}

// NovaPort is one Neutron port of a Nova instance: its id, which names the
// NIC (virtualport interfaceid, tap device "tap" + the first 11 characters
// of the id), and its fixed addresses (floating ones are NATed outside the
// guest and left out).
type NovaPort struct {
	ID    string // lower-case
	Fixed []netip.Addr
}

// NICFact is one <vmcheck:nic>: an address and/or a gateway of the NIC with
// MAC (guestagent.NormalMAC form). An unset one is the zero Addr.
type NICFact struct {
	MAC     string
	Address netip.Addr
	Gateway netip.Addr
}

// ParseMetadata reads vmcheck's policy and NIC facts and Nova's instance
// facts and ports from the inner XML of a domain's <metadata> element.
// Other namespaces are ignored. An invalid vmcheck element is not an
// error: the policy comes back empty, without NIC facts, with
// Policy.Error saying why, so that a typo in one domain's metadata never
// stops the others from being checked. Invalid Nova ports or addresses are
// skipped.
func ParseMetadata(inner string) Metadata {
	var (
		md     Metadata
		seenVM bool
	)
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				md.Policy, md.NICs = policy.Policy{Error: fmt.Sprintf("metadata is not well-formed XML: %v", err)}, nil
			}
			return md
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Space == MetadataNamespace && se.Name.Local == "check" && !seenVM:
			seenVM = true
			md.Policy, md.NICs = decodeCheck(dec, &se)
		case strings.HasPrefix(se.Name.Space, novaNamespacePrefix) && se.Name.Local == "instance":
			var x xmlNova
			if err := dec.DecodeElement(&x, &se); err != nil {
				continue
			}
			md.Nova = model.Nova{Instance: strings.TrimSpace(x.Name), Project: strings.TrimSpace(x.Owner.Project)}
			md.Ports = novaPorts(x.Ports)
		default:
			if err := dec.Skip(); err != nil {
				return md
			}
		}
	}
}

// decodeCheck decodes <vmcheck:check> into a policy and NIC facts, or an
// empty policy whose Error says why it was ignored.
func decodeCheck(dec *xml.Decoder, se *xml.StartElement) (policy.Policy, []NICFact) {
	var x xmlCheck
	if err := dec.DecodeElement(&x, se); err != nil {
		return policy.Policy{Error: fmt.Sprintf("vmcheck metadata: %v", err)}, nil
	}
	p, err := x.policy()
	if err == nil {
		var nics []NICFact
		if nics, err = x.nicFacts(); err == nil {
			return p, nics
		}
	}
	return policy.Policy{Error: fmt.Sprintf("vmcheck metadata ignored: %v", err)}, nil
}

// nicFacts validates the <vmcheck:nic> elements: a MAC, and an address or
// a gateway that model.ValidateExpected accepts.
func (x xmlCheck) nicFacts() ([]NICFact, error) {
	if len(x.NICs) > maxMetadataNICs {
		return nil, fmt.Errorf("nic: %d elements, at most %d allowed", len(x.NICs), maxMetadataNICs)
	}
	var out []NICFact
	for i, n := range x.NICs {
		mac, ok := guestagent.NormalMAC(strings.TrimSpace(n.MAC))
		if !ok {
			return nil, fmt.Errorf("nic[%d]: mac %q is not a MAC address", i, truncate(n.MAC, 64))
		}
		f := NICFact{MAC: mac}
		for _, a := range []struct {
			name, value string
			dst         *netip.Addr
		}{{"address", n.Address, &f.Address}, {"gateway", n.Gateway, &f.Gateway}} {
			if a.value == "" {
				continue
			}
			addr, err := netip.ParseAddr(strings.TrimSpace(a.value))
			if err != nil {
				return nil, fmt.Errorf("nic[%d]: %s %q is not an IP address", i, a.name, truncate(a.value, 64))
			}
			if err := model.ValidateExpected(addr); err != nil {
				return nil, fmt.Errorf("nic[%d]: %s: %w", i, a.name, err)
			}
			*a.dst = addr
		}
		if !f.Address.IsValid() && !f.Gateway.IsValid() {
			return nil, fmt.Errorf("nic[%d]: neither address nor gateway", i)
		}
		out = append(out, f)
	}
	return out, nil
}

// novaPorts keeps the ports with an id and their valid fixed addresses,
// at most maxNovaPorts ports of model.MaxExpectedAddrs addresses each.
func novaPorts(ports []xmlNovaPort) []NovaPort {
	var out []NovaPort
	for _, p := range ports {
		id := strings.ToLower(strings.TrimSpace(p.UUID))
		if len(out) >= maxNovaPorts {
			break
		}
		if len(id) < 11 || len(id) > 64 {
			continue
		}
		port := NovaPort{ID: id}
		for _, ip := range p.IPs {
			a, err := netip.ParseAddr(strings.TrimSpace(ip.Address))
			if err != nil || ip.Type != "fixed" || !versionMatches(a, ip.IPVersion) || model.ValidateExpected(a) != nil {
				continue
			}
			if len(port.Fixed) < model.MaxExpectedAddrs && !slices.Contains(port.Fixed, a) {
				port.Fixed = append(port.Fixed, a)
			}
		}
		out = append(out, port)
	}
	return out
}

// versionMatches reports whether Nova's ipVersion ("4", "6", or absent)
// agrees with the address.
func versionMatches(a netip.Addr, v string) bool {
	switch strings.TrimSpace(v) {
	case "":
		return true
	case "4":
		return a.Is4()
	case "6":
		return a.Is6()
	}
	return false
}

// policy validates the attributes and targets of <vmcheck:check> into a
// policy; its errors name the attribute.
func (x xmlCheck) policy() (policy.Policy, error) {
	var p policy.Policy
	if x.Enabled != "" {
		b, err := strconv.ParseBool(x.Enabled)
		if err != nil {
			return policy.Policy{}, fmt.Errorf("enabled: %q is not true or false", x.Enabled)
		}
		p.Enabled = &b
	}
	for _, iv := range []struct {
		name, value string
		dst         *time.Duration
	}{{"interval", x.Interval, &p.Interval}, {"retry_interval", x.RetryInterval, &p.RetryInterval}} {
		if iv.value == "" {
			continue
		}
		d, err := time.ParseDuration(iv.value)
		if err != nil {
			return policy.Policy{}, fmt.Errorf("%s: %w", iv.name, err)
		}
		*iv.dst = d
	}
	for _, t := range x.Targets {
		a, err := netip.ParseAddr(strings.TrimSpace(t))
		if err != nil {
			return policy.Policy{}, fmt.Errorf("target %q: not an IP address", truncate(t, 64))
		}
		p.Targets = append(p.Targets, a)
	}
	if len(x.Probes) > probe.MaxProbes {
		return policy.Policy{}, fmt.Errorf("probe: %d elements, at most %d allowed", len(x.Probes), probe.MaxProbes)
	}
	for i, xp := range x.Probes {
		pairs := make([][2]string, 0, len(xp.Attrs))
		for _, a := range xp.Attrs {
			pairs = append(pairs, [2]string{a.Name.Local, truncate(a.Value, 300)})
		}
		s, err := probe.FromPairs(pairs)
		if err != nil {
			return policy.Policy{}, fmt.Errorf("probe[%d]: %w", i, err)
		}
		p.Probes = append(p.Probes, s)
	}
	switch len(x.Alerts) {
	case 0:
	case 1:
		a := x.Alerts[0]
		p.Alert = policy.Alert{Notify: strings.TrimSpace(a.Notify), Severity: strings.TrimSpace(a.Severity),
			Receiver: strings.TrimSpace(a.Receiver), Tenant: strings.TrimSpace(a.Tenant)}
	default:
		return policy.Policy{}, fmt.Errorf("alert: %d elements, at most one allowed", len(x.Alerts))
	}
	if err := p.Validate(); err != nil {
		return policy.Policy{}, err
	}
	return p, nil
}

func truncate(s string, n int) string {
	b := []byte(s)
	if len(b) <= n {
		return s
	}
	return string(bytes.ToValidUTF8(b[:n], nil)) + "…"
}
