package checker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vmcheck/vmcheck/osdetect"
)

// diagnose names the causes of a check that was not ok, most fundamental
// first: the host's, then the guest's, then the network's. It works from
// what discovery and the probes learned, and reads each NIC's host side
// (NIC.Host, into nics[i].HostSide: only a failed check does); only when a
// gateway ping failed without a cause on the host or in the guest's
// configuration does it ask the guest again (at most
// osdetect.MaxEvidenceCommands guest commands, see gatewayCause).
func (c *Checker) diagnose(ctx context.Context, f *facts, probes []ProbeResult, nics []NICResult) []Diagnosis {
	var host, guest, network []Diagnosis
	explained := map[string]bool{} // NICs whose failure a host or guest cause explains
	for i, n := range f.d.NICs {
		nf := &f.nics[i]
		if n.LinkDown {
			host = append(host, c.linkDown(f.d, n))
			explained[nf.mac] = true
			continue
		}
		hs := hostSide(ctx, n)
		if i < len(nics) {
			nics[i].HostSide = hs.result()
		}
		if d := hs.cause(nf.mac); d != nil {
			host = append(host, *d)
			explained[nf.mac] = true
			continue
		}
		if g := guestCause(f, nf); g != nil {
			guest = append(guest, *g)
			explained[nf.mac] = true
		}
	}
	if nf, gw := failedGateway(f, probes, explained, guest); nf != nil {
		found := c.gatewayCause(ctx, f, nf, gw)
		if len(found) > 0 && found[0].Code == CodeGuestLinkDown {
			// The interface is down: its lost route is a symptom.
			guest = slices.DeleteFunc(guest, func(d Diagnosis) bool { return d.NIC == nf.mac })
			guest = append(found, guest...)
		} else {
			network = append(network, found...)
		}
	}
	// A guest cause explains a failed external ping too: a guest without
	// its route or address fails it locally, nothing upstream is known.
	if len(guest) == 0 && len(host) == 0 {
		if d := upstreamCause(probes); d != nil {
			network = append(network, *d)
		}
		network = append(network, methodCauses(probes)...)
	}
	return slices.Concat(host, guest, network)
}

// hostSide reads a NIC's host side through its backend's inspector; a NIC
// without one is unknown.
func hostSide(ctx context.Context, n NIC) HostSide {
	kind := n.HostKind
	if kind == "" {
		kind = HostKindOther
	}
	if n.Host == nil || ctx.Err() != nil {
		return HostSide{Kind: kind, Note: "vmcheck cannot read the host side of this NIC"}
	}
	hs := n.Host.InspectHost(ctx)
	if hs.Kind == "" {
		hs.Kind = kind
	}
	return hs
}

// result is the HostSide as the Result carries it: an unknown host side
// says so ("host side unknown (kind): why").
func (hs HostSide) result() *HostSideResult {
	r := &HostSideResult{Kind: hs.Kind, Known: hs.Known, Facts: hs.Facts, Note: hs.Note}
	if !hs.Known {
		r.Note = "host side unknown (" + hs.Kind + ")"
		if hs.Note != "" {
			r.Note += ": " + hs.Note
		}
	}
	return r
}

// cause is the host cause of a HostSide, if any: only from a known host
// side, and only a code of the host layer.
func (hs HostSide) cause(mac string) *Diagnosis {
	if !hs.Known || hs.Fault == nil || Codes[hs.Fault.Code] != LayerHost || hs.Fault.Code == CodeHostLinkDown {
		return nil
	}
	d := diag(hs.Fault.Code, mac, "%s", hs.Fault.Detail)
	return &d
}

// methodCauses are the causes the policy's probe methods named, each once
// per code and target, after the ones above: a host or guest cause
// explains them, so they are named only when there is none.
func methodCauses(probes []ProbeResult) []Diagnosis {
	var out []Diagnosis
	for _, p := range probes {
		if p.cause == "" {
			continue
		}
		if _, known := Codes[p.cause]; !known {
			continue
		}
		out = append(out, diag(p.cause, p.NIC, "%s", p.detail))
	}
	return out
}

// linkDown is host_link_down, with the remedy of the config's backend.
func (c *Checker) linkDown(d Domain, n NIC) Diagnosis {
	detail := "the host has set this NIC's link down; bring it up"
	if b := c.cfg.Host(); b != nil {
		detail = b.LinkDownDetail(d, n)
	}
	return diag(CodeHostLinkDown, n.MAC, "%s", detail)
}

// diag builds a Diagnosis, its layer from the code.
func diag(code Code, mac, format string, a ...any) Diagnosis {
	return Diagnosis{Code: code, Layer: Codes[code], NIC: mac, Detail: fmt.Sprintf(format, a...)}
}

// guestCause finds what in the guest's own configuration keeps a NIC off
// its network, from the interface list and the routes alone.
func guestCause(f *facts, nf *nicFacts) *Diagnosis {
	if f.ifErr != nil || (!nf.gateway.IsValid() && len(nf.expected) == 0) {
		return nil // nothing to compare with
	}
	if nf.guestName == "" {
		d := diag(CodeGuestNICMissing, nf.mac, "no interface in the guest carries this NIC's MAC %s: the guest has no driver for it, renamed or removed it; check `ip link` in the guest", nf.mac)
		return &d
	}
	v4 := nf.gateway.Is4()
	if !nf.gateway.IsValid() {
		v4 = nf.expected[0].Addr.Is4()
	}
	held := familyAddrs(nf.addrs, v4)
	for _, e := range nf.expected {
		if e.Addr.Is4() != v4 || slices.Contains(nf.addrs, e.Addr) {
			continue
		}
		if len(held) == 0 {
			break // no address at all: guest_no_address below
		}
		d := diag(CodeGuestAddressMismatch, nf.mac, "%s holds %s, but %s assigned %s: the guest's network configuration (DHCP client, cloud-init, static file) does not match the platform's", nf.guestName, addrList(nf.addrs, v4), e.Source, e.Addr)
		return &d
	}
	if len(held) == 0 {
		d := diag(CodeGuestNoAddress, nf.mac, "%s has no %s address%s: the guest's DHCP client or network configuration did not bring it up", nf.guestName, family(v4), expectedText(nf.expected, v4))
		return &d
	}
	if f.routesRead && !nf.defaultRoute && nf.gateway.IsValid() && nf.gatewaySource != f.routeSrc && !defaultElsewhere(f, nf.gateway.Is4()) {
		d := diag(CodeGuestNoDefaultRoute, nf.mac, "the guest has no default route through %s although its gateway is %s (from %s): add the route or fix the guest's network configuration", nf.guestName, nf.gateway, nf.gatewaySource)
		return &d
	}
	return nil
}

// defaultElsewhere reports whether the guest has a default route of the
// family through another NIC (one with none of its own, as nf here): a
// second NIC of a multi-homed guest needs no default route, its gateway
// on the link is reached without one.
func defaultElsewhere(f *facts, v4 bool) bool {
	for _, rt := range f.routes {
		if rt.Gateway.Is4() == v4 {
			return true
		}
	}
	return false
}

// familyAddrs returns the addresses of one family, leaving out IPv6
// link-local ones (every IPv6 interface has one).
func familyAddrs(addrs []netip.Addr, v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if a.Is4() == v4 && !a.IsLinkLocalUnicast() {
			out = append(out, a)
		}
	}
	return out
}

func family(v4 bool) string {
	if v4 {
		return "IPv4"
	}
	return "IPv6"
}

// expectedText names what the platform assigned, if anything.
func expectedText(exp []ExpectedAddr, v4 bool) string {
	for _, e := range exp {
		if e.Addr.Is4() == v4 {
			return fmt.Sprintf(" (%s assigned %s)", e.Source, e.Addr)
		}
	}
	return ""
}

// failedGateway returns the first NIC whose gateway ping failed and that no
// host cause explains, nor a guest cause other than a missing default
// route (which a downed interface causes: the evidence tells).
func failedGateway(f *facts, probes []ProbeResult, explained map[string]bool, guest []Diagnosis) (*nicFacts, netip.Addr) {
	routeOnly := map[string]bool{}
	for _, d := range guest {
		routeOnly[d.NIC] = d.Code == CodeGuestNoDefaultRoute
	}
	for _, p := range probes {
		if p.Kind != ProbeGateway || p.Status != ProbeFailed || (explained[p.NIC] && !routeOnly[p.NIC]) {
			continue
		}
		for i := range f.nics {
			if f.nics[i].mac == p.NIC && f.nics[i].gateway.IsValid() {
				return &f.nics[i], f.nics[i].gateway
			}
		}
	}
	return nil, netip.Addr{}
}

// upstreamCause: a gateway answered, an external target did not.
func upstreamCause(probes []ProbeResult) *Diagnosis {
	var gw *ProbeResult
	for i, p := range probes {
		if p.Kind == ProbeGateway && p.Status == ProbePassed {
			gw = &probes[i]
			break
		}
	}
	if gw == nil {
		return nil
	}
	for _, p := range probes {
		if p.Kind == ProbeExternal && p.Status == ProbeFailed {
			d := diag(CodeUpstreamUnreachable, gw.NIC, "the gateway %s answers but the external target %s does not (%s): the fault is beyond the gateway — its uplink, routing or an upstream firewall", gw.Target, p.Target, p.Error)
			return &d
		}
	}
	return nil
}

// gatewayCause asks the guest (at most three guest commands, see
// gatewayEvidence) why the gateway of nf did not answer: its interface may
// be down or without carrier (guest_link_down), the gateway may be missing
// from its neighbour table (gateway_unresolved: layer 2 between the VM and
// the gateway is broken), present with a fresh answer (the gateway
// answers ARP/ND but not echo: gateway_icmp_filtered), or present as a
// cached, static or still unconfirmed entry, which is no answer at all
// (gateway_unconfirmed: the guest cannot tell a filter from a layer-2
// break).
func (c *Checker) gatewayCause(ctx context.Context, f *facts, nf *nicFacts, gw netip.Addr) []Diagnosis {
	iface := evidenceIface(f.os.Family, nf, gw)
	ev, err := c.gatewayEvidence(ctx, f, iface, gw)
	switch {
	case errors.Is(err, osdetect.ErrNoInterface):
		return []Diagnosis{diag(CodeGuestNICMissing, nf.mac, "the guest says it has no interface %s for this NIC (%s)", iface, ev.Raw)}
	case ev.Link == osdetect.LinkDown || ev.Link == osdetect.LinkNoCarrier:
		return []Diagnosis{diag(CodeGuestLinkDown, nf.mac, "%s is %s in the guest (%s): bring it up in the guest (`ip link set %s up`, or its network configuration)", nf.guestName, linkText(ev.Link), ev.Raw, nf.guestName)}
	case ev.Neighbour == osdetect.NeighbourResolved && ev.Fresh:
		return []Diagnosis{diag(CodeGatewayICMPFiltered, nf.mac, "the gateway %s answers ARP/ND (at %s; the guest's entry: %s) but not echo requests: a security group or firewall drops ICMP to or from the gateway", gw, ev.LLAddr, ev.Seen)}
	case ev.Neighbour == osdetect.NeighbourResolved:
		return []Diagnosis{diag(CodeGatewayUnconfirmed, nf.mac, "the gateway %s did not answer the echo request, and the guest's neighbour entry for it (at %s) is no fresh answer (%s): the guest cannot tell a firewall dropping ICMP from a broken layer 2 — look at this NIC's host side, the bridge and the VLAN, and check again", gw, ev.LLAddr, ev.Seen)}
	case ev.Neighbour == osdetect.NeighbourUnresolved:
		return []Diagnosis{diag(CodeGatewayUnresolved, nf.mac, "the gateway %s has no resolved neighbour entry in the guest after the ping (%s; %s): layer 2 between the VM and its gateway is broken — check the bridge, the VLAN and that the gateway holds %s", gw, ev.Seen, ev.Raw, gw)}
	}
	return nil
}

// evidenceIface is what osdetect.NextEvidence needs to name the NIC: the
// guest interface's name on Linux; on Windows "" (its interface index is
// not known: netsh lists every interface, or the zone of a link-local
// gateway names it).
func evidenceIface(fam osdetect.Family, nf *nicFacts, _ netip.Addr) string {
	if fam != osdetect.Windows {
		return nf.guestName
	}
	return ""
}

func linkText(l osdetect.LinkState) string {
	if l == osdetect.LinkNoCarrier {
		return "without carrier"
	}
	return "down"
}
