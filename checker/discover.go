package checker

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/settings"
)

// facts is what discovery learned about one domain, typed: addresses stay
// netip values until result formats them, once.
type facts struct {
	d     model.Domain
	agent *guestagent.Client

	version string // agent version, once guest-info answered
	info    guestagent.Info
	execOK  bool          // guest-exec and guest-exec-status are enabled
	os      osdetect.Info // what OS detection found, even when it failed
	osErr   error

	nics       []nicFacts // one per NIC of the domain definition, in order
	ifaces     []guestagent.Interface
	ifErr      error
	routes     []osdetect.DefaultRoute // the guest's default routes, if read
	routesRead bool                    // the guest's routes were read (none may be default)
	routeSrc   string
	routeErr   error
	// routesCached says the routes are an earlier check's of this boot
	// (guestRoutes); ifaceSum fingerprints ifaces.
	routesCached bool
	ifaceSum     uint64
	// earlyPings are the external pings started before the routes were
	// read (startEarlyPings), by target.
	earlyPings map[netip.Addr]startedPing

	notes []string // what decoders cut from the guest's replies

	// early waits for the standalone probe methods discovery started
	// (nil: none); waitEarly collects them once.
	early func() []model.ProbeResult
}

// waitEarly waits for the probes discovery started and returns them; a
// second call returns none.
func (f *facts) waitEarly() []model.ProbeResult {
	if f.early == nil {
		return nil
	}
	out := f.early()
	f.early = nil
	return out
}

// nicFacts is what discovery learned about one NIC.
type nicFacts struct {
	mac           guestagent.MAC // from the domain definition
	guestName     string
	addrs         []netip.Addr // the guest's addresses on it, without loopback
	gateway       netip.Addr   // invalid when none is known
	gatewaySource string
	networkType   string
	expected      []model.ExpectedAddr // what the platform assigned to it
	gateways      []model.ExpectedAddr // gateways the platform or the config knows for it
	defaultRoute  bool                 // the guest has a default route through it
}

func newFacts(d model.Domain) *facts {
	f := &facts{d: d, os: osdetect.Info{Family: osdetect.Unknown}, nics: make([]nicFacts, len(d.NICs)), notes: append([]string(nil), d.Warnings...)}
	for i, n := range d.NICs {
		f.nics[i].mac, f.nics[i].expected = n.MAC, n.Expected
	}
	return f
}

// result builds the plain Result from the facts, with the given state,
// agent state and reason; notes are added to the reason.
func (f *facts) result(state model.State, agent model.AgentState, reason string) model.Result {
	r := model.Result{
		Name: f.d.Name, UUID: f.d.UUID, State: state,
		OS:     model.OSResult{Family: string(f.os.Family), ID: f.os.ID, Name: f.os.Name, Version: f.os.Version, Source: f.os.Source},
		Agent:  model.AgentResult{State: agent, Version: f.version},
		NICs:   make([]model.NICResult, len(f.d.NICs)),
		Probes: []model.ProbeResult{},
		Reason: withNotes(reason, f.notes),
	}
	for i, n := range f.d.NICs {
		nf := f.nics[i]
		nr := model.NICResult{MAC: n.MAC, Device: n.Device, Model: n.Model, SourceType: n.SourceType, Source: n.Source,
			GuestName: nf.guestName, IPs: make([]string, 0, len(nf.addrs)),
			GatewaySource: nf.gatewaySource, NetworkType: nf.networkType, HostKind: n.HostKind}
		for _, a := range nf.addrs {
			nr.IPs = append(nr.IPs, a.String())
		}
		if nf.gateway.IsValid() {
			nr.Gateway = nf.gateway.String()
		}
		r.NICs[i] = nr
	}
	return r
}

// discover learns everything Check needs before it pings. It returns the
// facts, or the final Result when the domain cannot be probed at all
// (paused, no agent, agent failing its first calls).
//
// probing says the check will probe: the standalone probe methods of the
// domain's policy then start as soon as the agent has answered.
func (c *Checker) discover(ctx context.Context, d model.Domain, probing bool) (*facts, *model.Result) {
	f := newFacts(d)
	c.platformFacts(f)
	if r, stop := gate(f); stop {
		return nil, &r
	}
	f.agent = guestagent.New(c.calls.Transport(d.Agent))
	info, cached := c.boots.Info(d.BootID)
	if !cached {
		var r *model.Result
		if info, r = c.agentInfo(ctx, f); r != nil {
			return nil, r
		}
	}
	f.info, f.version = info, info.Version
	f.execOK = info.Enabled("guest-exec") && info.Enabled("guest-exec-status")
	f.os, f.osErr = c.detectOS(ctx, f.agent, d)

	// With guest-info and the OS cached, this is the check's first agent
	// call: it stands for guest-ping, and fails as guest-ping would.
	ifaces, err := f.agent.NetworkInterfaces(ctx)
	if err != nil && !errors.Is(err, guestagent.ErrTruncated) {
		c.boots.SetInfo(d.BootID, info, false)
		if cached && !isAgentReply(err) {
			r := agentFailure(f.result("", "", ""), "guest-ping", err)
			return nil, &r
		}
	}
	if f.ifErr = f.truncated(err); f.ifErr == nil {
		f.ifaces, f.ifaceSum = ifaces, ifaceSum(ifaces)
		attachGuestInterfaces(f.nics, ifaces)
	}
	if probing && f.execOK && f.osErr == nil && err == nil {
		f.early = c.startMethods(ctx, f, nil, true) // the agent answers: start what needs no routes
		c.startEarlyPings(ctx, f)
	}
	f.routeErr = f.truncated(c.resolveGateways(ctx, f, probing && err == nil))
	return f, nil
}

// agentInfo makes the first agent calls of a boot: guest-ping, then
// guest-info, which it remembers for the boot. A failure of either is the
// check's final Result.
func (c *Checker) agentInfo(ctx context.Context, f *facts) (guestagent.Info, *model.Result) {
	if err := f.agent.Ping(ctx); err != nil {
		r := agentFailure(f.result("", "", ""), "guest-ping", err)
		return guestagent.Info{}, &r
	}
	info, err := f.agent.Info(ctx)
	if err = f.truncated(err); err != nil {
		r := agentFailure(f.result("", "", ""), "guest-info", err)
		return guestagent.Info{}, &r
	}
	c.boots.SetInfo(f.d.BootID, info, true)
	return info, nil
}

// isAgentReply reports whether err is an error the agent itself answered
// with: the agent is there, only the command failed.
func isAgentReply(err error) bool {
	var ae *guestagent.Error
	return errors.As(err, &ae)
}

// platformFacts adds to each NIC what the config file says of its MAC
// (nics:), ahead of what the source reported: the operator's word first.
func (c *Checker) platformFacts(f *facts) {
	for i, n := range f.d.NICs {
		nf := &f.nics[i]
		exp, gws := c.cfg.NICFacts(n.MAC.String())
		for _, e := range n.Expected {
			exp = model.AppendExpected(exp, e.Addr, e.Source)
		}
		for _, g := range n.Gateways {
			gws = model.AppendExpected(gws, g.Addr, g.Source)
		}
		nf.expected, nf.gateways = exp, gws
	}
}

// gate returns the Result of a domain that is not probed: not running, or
// without a usable agent channel.
func gate(f *facts) (model.Result, bool) {
	switch f.d.State {
	case model.Paused:
		return f.result(model.StatePaused, channelAgentState(f.d.Channel), "the domain is paused; it was not probed"), true
	case model.Other:
		return f.result(model.StateUnknown, channelAgentState(f.d.Channel), "the domain is neither running nor paused; it was not probed"), true
	}
	switch f.d.Channel {
	case model.ChannelNone:
		return f.result(model.StateUnknown, model.AgentNoChannel, "the domain has no guest agent channel: add a virtio channel named org.qemu.guest_agent.0 and run qemu-guest-agent in the guest"), true
	case model.ChannelDisconnected:
		return f.result(model.StateUnknown, model.AgentDisconnected, "the guest agent is not connected: qemu-guest-agent is not running in the guest; start and enable it"), true
	}
	return model.Result{}, false
}

// truncated moves an ErrTruncated error into the notes: the value it came
// with is usable. Any other error is returned as it is.
func (f *facts) truncated(err error) error {
	if errors.Is(err, guestagent.ErrTruncated) {
		f.notes = append(f.notes, err.Error())
		return nil
	}
	return err
}

// attachGuestInterfaces fills each NIC's guest name and addresses from the
// agent's interface list, matched by MAC.
func attachGuestInterfaces(nics []nicFacts, ifaces []guestagent.Interface) {
	for i := range nics {
		for _, gi := range ifaces {
			if gi.MAC == "" || !strings.EqualFold(gi.MAC.String(), nics[i].mac.String()) {
				continue
			}
			nics[i].guestName = gi.Name
			for _, p := range gi.Addrs {
				if !p.Addr().IsLoopback() {
					nics[i].addrs = append(nics[i].addrs, p.Addr())
				}
			}
		}
	}
}

// resolveGateways sets each NIC's gateway, gateway source and network type,
// in the documented order: config override, libvirt network, guest routes,
// and keeps the guest's default routes (if it read them) for probe
// planning. It returns why the routes could not be read, if they could not.
// reuse lets it take the routes an earlier check of the boot read
// (guestRoutes).
func (c *Checker) resolveGateways(ctx context.Context, f *facts, reuse bool) error {
	needRoutes := false
	for i, n := range f.d.NICs {
		nf := &f.nics[i]
		nc, hasCfg := c.networkConfig(n)
		switch {
		case hasCfg && nc.Gateway != nil:
			nf.gateway, nf.gatewaySource = *nc.Gateway, "config"
		case len(n.NetworkAddrs) > 0:
			if gw, ok := networkGateway(n.NetworkAddrs, nf.addrs); ok {
				nf.gateway, nf.gatewaySource = gw, "libvirt-network"
			}
		}
		if !nf.gateway.IsValid() {
			nf.gateway, nf.gatewaySource = platformGateway(nf.gateways)
		}
		needRoutes = needRoutes || !nf.gateway.IsValid()
		if hasCfg && nc.Type != "" {
			nf.networkType = nc.Type
		} else {
			needRoutes = true
		}
	}
	if !needRoutes || f.os.Family == osdetect.Unknown {
		defaultNetworkTypes(f.nics, nil)
		c.recallGateways(f)
		return nil
	}
	routes, source, cached, err := c.guestRoutes(ctx, f, reuse)
	f.routeSrc, f.routesCached = source, cached
	if err != nil && !errors.Is(err, guestagent.ErrTruncated) {
		defaultNetworkTypes(f.nics, nil)
		c.recallGateways(f)
		return err
	}
	f.routes, f.routesRead = routes, true
	carriers := map[int]bool{}
	index := newIfaceIndex(f.ifaces)
	for _, rt := range routes {
		i := index.routeNIC(rt, f.nics)
		if i < 0 {
			continue
		}
		carriers[i] = true
		nf := &f.nics[i]
		nf.defaultRoute = true
		// Prefer an IPv4 gateway when a NIC has both; a config or libvirt
		// network answer always wins.
		if !nf.gateway.IsValid() || (nf.gatewaySource == source && rt.Gateway.Is4() && !nf.gateway.Is4()) {
			nf.gateway, nf.gatewaySource = rt.Gateway, source
		}
	}
	defaultNetworkTypes(f.nics, carriers)
	c.recallGateways(f)
	return err
}

// platformGateway picks a gateway the platform knows for a NIC, IPv4
// first.
func platformGateway(gws []model.ExpectedAddr) (netip.Addr, string) {
	for _, v4 := range []bool{true, false} {
		for _, g := range gws {
			if g.Addr.IsValid() && g.Addr.Is4() == v4 {
				return g.Addr, g.Source
			}
		}
	}
	return netip.Addr{}, ""
}

func (c *Checker) networkConfig(n model.NIC) (settings.NetworkConfig, bool) {
	if nc, ok := c.cfg.Networks[n.Source]; ok && n.Source != "" {
		return nc, true
	}
	if nc, ok := c.cfg.Networks[n.Bridge]; ok && n.Bridge != "" {
		return nc, true
	}
	return settings.NetworkConfig{}, false
}

// defaultNetworkTypes fills unset network types: the NICs carrying a default
// route are external, the others internal.
func defaultNetworkTypes(nics []nicFacts, carriers map[int]bool) {
	for i := range nics {
		if nics[i].networkType != "" {
			continue
		}
		if carriers[i] {
			nics[i].networkType = settings.NetworkExternal
		} else {
			nics[i].networkType = settings.NetworkInternal
		}
	}
}

// networkGateway picks the libvirt network address on the same subnet as one
// of the NIC's guest addresses, else the network's first IPv4 address, else
// its first address.
func networkGateway(netAddrs []netip.Prefix, guestIPs []netip.Addr) (netip.Addr, bool) {
	for _, ip := range guestIPs {
		for _, p := range netAddrs {
			if p.Masked().Contains(ip) {
				return p.Addr(), true
			}
		}
	}
	for _, p := range netAddrs {
		if p.Addr().Is4() {
			return p.Addr(), true
		}
	}
	if len(netAddrs) > 0 {
		return netAddrs[0].Addr(), true
	}
	return netip.Addr{}, false
}

// ifaceIndex finds a guest interface's MAC by its name or by one of its
// addresses, in constant time: a guest may list thousands of routes and
// addresses, and each route is looked up once. As in a scan of the list,
// the last interface with a given name or address wins. The address map is
// built on first use (only Windows routes name an interface by address).
type ifaceIndex struct {
	ifaces []guestagent.Interface
	byName map[string]string
	byAddr map[netip.Addr]string
}

func newIfaceIndex(ifaces []guestagent.Interface) *ifaceIndex {
	x := &ifaceIndex{ifaces: ifaces, byName: make(map[string]string, len(ifaces))}
	for _, gi := range ifaces {
		x.byName[gi.Name] = gi.MAC.String()
	}
	return x
}

func (x *ifaceIndex) macOfAddr(a netip.Addr) string {
	if x.byAddr == nil {
		x.byAddr = make(map[netip.Addr]string)
		for _, gi := range x.ifaces {
			for _, p := range gi.Addrs {
				x.byAddr[p.Addr()] = gi.MAC.String()
			}
		}
	}
	return x.byAddr[a]
}

// routeNIC finds the NIC a default route leaves through, by MAC, guest
// interface name, or interface address.
func (x *ifaceIndex) routeNIC(rt osdetect.DefaultRoute, nics []nicFacts) int {
	mac := rt.MAC
	if mac == "" && rt.Interface != "" {
		mac = x.byName[rt.Interface]
	}
	if mac == "" && rt.InterfaceAddr.IsValid() {
		mac = x.macOfAddr(rt.InterfaceAddr)
	}
	if mac == "" {
		return -1
	}
	for i := range nics {
		if strings.EqualFold(nics[i].mac.String(), mac) {
			return i
		}
	}
	return -1
}
