// Package diagnose names why a check was not ok: its causes (model.Codes),
// most fundamental first — the host's (a NIC's link or host side), the
// guest's (its interfaces, addresses and routes), then the network's (a
// gateway that does not answer, told apart by the guest's neighbour
// evidence; a fault beyond the gateway; the causes the probe methods
// named). The engine (package checker) hands it what a check learned
// (Facts) and a Guest that runs the evidence commands; it knows nothing of
// the engine, and a backend only through the remedy Facts.LinkDown gives.
package diagnose

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
)

// Guest runs one command in the guest and waits for it, keeping at most
// limit bytes of each output (guestagent.Client.Run): all the diagnosis
// asks of the guest.
type Guest interface {
	Run(ctx context.Context, cmd guestagent.Command, limit int) (guestagent.ExecStatus, error)
}

// Facts is what the engine learned of one VM whose check was not ok:
// what Diagnose reads.
type Facts struct {
	// Domain is the VM as its backend listed it: its NICs' link state
	// and host side.
	Domain model.Domain
	// NICs are what discovery learned of each NIC, one per Domain.NICs,
	// in order.
	NICs []NIC
	// Family is the guest's OS family: the dialect of the evidence
	// commands.
	Family osdetect.Family
	// InterfacesKnown says the guest's interface list was read; without it
	// no guest cause is named.
	InterfacesKnown bool
	// Routes are the guest's default routes, RoutesRead says they were
	// read (none may be default) and RouteSource where from.
	Routes      []osdetect.DefaultRoute
	RoutesRead  bool
	RouteSource string
	// Guest runs the evidence commands after a failed gateway ping.
	Guest Guest
	// PingTimeout is how long the failed ping waited for its reply.
	PingTimeout time.Duration
	// LinkDown is the backend's detail of host_link_down for a NIC (its
	// evidence and remedy); nil or "" gives a plain one.
	LinkDown func(model.Domain, model.NIC) string
	// Wait waits until t, or until ctx is done, before an evidence
	// command; nil sleeps.
	Wait func(ctx context.Context, t time.Time) error
}

// NIC is what discovery learned of one NIC.
type NIC struct {
	// MAC is the NIC's MAC, from the domain definition.
	MAC guestagent.MAC
	// GuestName is the guest interface carrying MAC, "" for none.
	GuestName string
	// Addrs are the guest's addresses on it, without loopback.
	Addrs []netip.Addr
	// Gateway is the NIC's gateway, invalid when none is known, and
	// GatewaySource where it was learned ("config", a route source, …).
	Gateway       netip.Addr
	GatewaySource string
	// Expected are the addresses the platform assigned to it.
	Expected []model.ExpectedAddr
	// DefaultRoute says the guest has a default route through it.
	DefaultRoute bool
}

// Diagnose names the causes of a check that was not ok, most fundamental
// first: the host's, then the guest's, then the network's. It works from
// what discovery and the probes learned, and reads each NIC's host side
// (model.NIC.Host, into nics[i].HostSide: only a failed check does); only when a
// gateway ping failed without a cause on the host or in the guest's
// configuration does it ask the guest again (at most
// osdetect.MaxEvidenceCommands guest commands, see gatewayCause).
func Diagnose(ctx context.Context, f *Facts, probes []model.ProbeResult, nics []model.NICResult) []model.Diagnosis {
	var host, guest, network []model.Diagnosis
	explained := map[guestagent.MAC]bool{} // NICs whose failure a host or guest cause explains
	for i, n := range f.Domain.NICs {
		nf := &f.NICs[i]
		if n.LinkDown {
			host = append(host, linkDown(f, n))
			explained[nf.MAC] = true
			continue
		}
		hs := hostSide(ctx, n)
		if i < len(nics) {
			nics[i].HostSide = hostSideResult(hs)
		}
		if d := hostCause(hs, nf.MAC); d != nil {
			host = append(host, *d)
			explained[nf.MAC] = true
			continue
		}
		if g := guestCause(f, nf); g != nil {
			guest = append(guest, *g)
			explained[nf.MAC] = true
		}
	}
	if nf, gw := failedGateway(f, probes, explained, guest); nf != nil {
		found := gatewayCause(ctx, f, nf, gw)
		if len(found) > 0 && found[0].Code == model.CodeGuestLinkDown {
			// The interface is down: its lost route is a symptom.
			guest = slices.DeleteFunc(guest, func(d model.Diagnosis) bool { return d.NIC == nf.MAC })
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
func hostSide(ctx context.Context, n model.NIC) model.HostSide {
	kind := n.HostKind
	if kind == "" {
		kind = model.HostKindOther
	}
	if n.Host == nil || ctx.Err() != nil {
		return model.HostSide{Kind: kind, Note: "vmcheck cannot read the host side of this NIC"}
	}
	hs := n.Host.InspectHost(ctx)
	if hs.Kind == "" {
		hs.Kind = kind
	}
	return hs
}

// hostSideResult is the HostSide as the Result carries it: an unknown
// host side says so ("host side unknown (kind): why").
func hostSideResult(hs model.HostSide) *model.HostSideResult {
	r := &model.HostSideResult{Kind: hs.Kind, Known: hs.Known, Facts: hs.Facts, Note: hs.Note}
	if !hs.Known {
		r.Note = "host side unknown (" + hs.Kind + ")"
		if hs.Note != "" {
			r.Note += ": " + hs.Note
		}
	}
	return r
}

// hostCause is the host cause of a HostSide, if any: only from a known
// host side, and only a code of the host layer.
func hostCause(hs model.HostSide, mac guestagent.MAC) *model.Diagnosis {
	if !hs.Known || hs.Fault == nil || model.Codes[hs.Fault.Code] != model.LayerHost || hs.Fault.Code == model.CodeHostLinkDown {
		return nil
	}
	d := diag(hs.Fault.Code, mac, "%s", hs.Fault.Detail)
	return &d
}

// methodCauses are the causes the policy's probe methods named, each once
// per code and target, after the ones above: a host or guest cause
// explains them, so they are named only when there is none.
func methodCauses(probes []model.ProbeResult) []model.Diagnosis {
	var out []model.Diagnosis
	for _, p := range probes {
		if p.Cause == "" {
			continue
		}
		if _, known := model.Codes[p.Cause]; !known {
			continue
		}
		out = append(out, diag(p.Cause, p.NIC, "%s", p.CauseDetail))
	}
	return out
}

// linkDown is host_link_down, with the remedy of the VM's backend.
func linkDown(f *Facts, n model.NIC) model.Diagnosis {
	detail := "the host has set this NIC's link down; bring it up"
	if f.LinkDown != nil {
		detail = cmp.Or(f.LinkDown(f.Domain, n), detail)
	}
	return diag(model.CodeHostLinkDown, n.MAC, "%s", detail)
}

// diag builds a Diagnosis, its layer from the code.
func diag(code model.Code, mac guestagent.MAC, format string, a ...any) model.Diagnosis {
	return model.Diagnosis{Code: code, Layer: model.Codes[code], NIC: mac, Detail: fmt.Sprintf(format, a...)}
}

// guestCause finds what in the guest's own configuration keeps a NIC off
// its network, from the interface list and the routes alone.
func guestCause(f *Facts, nf *NIC) *model.Diagnosis {
	if !f.InterfacesKnown || (!nf.Gateway.IsValid() && len(nf.Expected) == 0) {
		return nil // nothing to compare with
	}
	if nf.GuestName == "" {
		d := diag(model.CodeGuestNICMissing, nf.MAC, "no interface in the guest carries this NIC's MAC %s: the guest has no driver for it, renamed or removed it; check `ip link` in the guest", nf.MAC)
		return &d
	}
	v4 := nf.Gateway.Is4()
	if !nf.Gateway.IsValid() {
		v4 = nf.Expected[0].Addr.Is4()
	}
	held := familyAddrs(nf.Addrs, v4)
	for _, e := range nf.Expected {
		if e.Addr.Is4() != v4 || slices.Contains(nf.Addrs, e.Addr) {
			continue
		}
		if len(held) == 0 {
			break // no address at all: guest_no_address below
		}
		d := diag(model.CodeGuestAddressMismatch, nf.MAC, "%s holds %s, but %s assigned %s: the guest's network configuration (DHCP client, cloud-init, static file) does not match the platform's", nf.GuestName, AddrList(nf.Addrs, v4), e.Source, e.Addr)
		return &d
	}
	if len(held) == 0 {
		d := diag(model.CodeGuestNoAddress, nf.MAC, "%s has no %s address%s: the guest's DHCP client or network configuration did not bring it up", nf.GuestName, family(v4), expectedText(nf.Expected, v4))
		return &d
	}
	if f.RoutesRead && !nf.DefaultRoute && nf.Gateway.IsValid() && nf.GatewaySource != f.RouteSource && !defaultElsewhere(f, nf.Gateway.Is4()) {
		d := diag(model.CodeGuestNoDefaultRoute, nf.MAC, "the guest has no default route through %s although its gateway is %s (from %s): add the route or fix the guest's network configuration", nf.GuestName, nf.Gateway, nf.GatewaySource)
		return &d
	}
	return nil
}

// defaultElsewhere reports whether the guest has a default route of the
// family through another NIC (one with none of its own, as nf here): a
// second NIC of a multi-homed guest needs no default route, its gateway
// on the link is reached without one.
func defaultElsewhere(f *Facts, v4 bool) bool {
	for _, rt := range f.Routes {
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
func expectedText(exp []model.ExpectedAddr, v4 bool) string {
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
func failedGateway(f *Facts, probes []model.ProbeResult, explained map[guestagent.MAC]bool, guest []model.Diagnosis) (*NIC, netip.Addr) {
	routeOnly := map[guestagent.MAC]bool{}
	for _, d := range guest {
		routeOnly[d.NIC] = d.Code == model.CodeGuestNoDefaultRoute
	}
	for _, p := range probes {
		if p.Kind != model.ProbeGateway || p.Status != model.ProbeFailed || (explained[p.NIC] && !routeOnly[p.NIC]) {
			continue
		}
		for i := range f.NICs {
			if f.NICs[i].MAC == p.NIC && f.NICs[i].Gateway.IsValid() {
				return &f.NICs[i], f.NICs[i].Gateway
			}
		}
	}
	return nil, netip.Addr{}
}

// upstreamCause: a gateway answered, an external target did not.
func upstreamCause(probes []model.ProbeResult) *model.Diagnosis {
	var gw *model.ProbeResult
	for i, p := range probes {
		if p.Kind == model.ProbeGateway && p.Status == model.ProbePassed {
			gw = &probes[i]
			break
		}
	}
	if gw == nil {
		return nil
	}
	for _, p := range probes {
		if p.Kind == model.ProbeExternal && p.Status == model.ProbeFailed {
			d := diag(model.CodeUpstreamUnreachable, gw.NIC, "the gateway %s answers but the external target %s does not (%s): the fault is beyond the gateway — its uplink, routing or an upstream firewall", gw.Target, p.Target, p.Error)
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
func gatewayCause(ctx context.Context, f *Facts, nf *NIC, gw netip.Addr) []model.Diagnosis {
	iface := evidenceIface(f.Family, nf, gw)
	ev, err := gatewayEvidence(ctx, f, iface, gw)
	switch {
	case errors.Is(err, osdetect.ErrNoInterface):
		return []model.Diagnosis{diag(model.CodeGuestNICMissing, nf.MAC, "the guest says it has no interface %s for this NIC (%s)", iface, ev.Raw)}
	case ev.Link == osdetect.LinkDown || ev.Link == osdetect.LinkNoCarrier:
		return []model.Diagnosis{diag(model.CodeGuestLinkDown, nf.MAC, "%s is %s in the guest (%s): bring it up in the guest (`ip link set %s up`, or its network configuration)", nf.GuestName, linkText(ev.Link), ev.Raw, nf.GuestName)}
	case ev.Neighbour == osdetect.NeighbourResolved && ev.Fresh:
		return []model.Diagnosis{diag(model.CodeGatewayICMPFiltered, nf.MAC, "the gateway %s answers ARP/ND (at %s; the guest's entry: %s) but not echo requests: a security group or firewall drops ICMP to or from the gateway", gw, ev.LLAddr, ev.Seen)}
	case ev.Neighbour == osdetect.NeighbourResolved:
		return []model.Diagnosis{diag(model.CodeGatewayUnconfirmed, nf.MAC, "the gateway %s did not answer the echo request, and the guest's neighbour entry for it (at %s) is no fresh answer (%s): the guest cannot tell a firewall dropping ICMP from a broken layer 2 — look at this NIC's host side, the bridge and the VLAN, and check again", gw, ev.LLAddr, ev.Seen)}
	case ev.Neighbour == osdetect.NeighbourUnresolved:
		return []model.Diagnosis{diag(model.CodeGatewayUnresolved, nf.MAC, "the gateway %s has no resolved neighbour entry in the guest after the ping (%s; %s): layer 2 between the VM and its gateway is broken — check the bridge, the VLAN and that the gateway holds %s", gw, ev.Seen, ev.Raw, gw)}
	}
	return nil
}

// evidenceIface is what osdetect.NextEvidence needs to name the NIC: the
// guest interface's name on Linux; on Windows "" (its interface index is
// not known: netsh lists every interface, or the zone of a link-local
// gateway names it).
func evidenceIface(fam osdetect.Family, nf *NIC, _ netip.Addr) string {
	if fam != osdetect.Windows {
		return nf.GuestName
	}
	return ""
}

func linkText(l osdetect.LinkState) string {
	if l == osdetect.LinkNoCarrier {
		return "without carrier"
	}
	return "down"
}

// AddrList names the addresses of one family, or says there are none:
// as a guest_address_mismatch and the engine's address probe say what
// the guest holds.
func AddrList(addrs []netip.Addr, v4 bool) string {
	var out []string
	for _, a := range addrs {
		if a.Is4() == v4 {
			out = append(out, a.String())
		}
	}
	if len(out) == 0 {
		return "no address of that family"
	}
	return strings.Join(out, ", ")
}
