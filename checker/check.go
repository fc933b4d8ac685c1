package checker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// outputLimit caps what vmcheck keeps of one guest command's stdout or
// stderr. Ping prints a few hundred bytes; anything more is noise or abuse.
const outputLimit = 64 << 10

// Checker checks domains. It caches per-boot facts (the guest OS) between
// rounds, so one Checker should live as long as the process.
type Checker struct {
	cfg Config

	mu      sync.Mutex
	osCache map[string]osdetect.Info
}

// New returns a Checker for cfg, with defaults applied.
func New(cfg Config) *Checker {
	return &Checker{cfg: cfg.WithDefaults(), osCache: make(map[string]osdetect.Info)}
}

// Config returns the configuration in force, with defaults applied.
func (c *Checker) Config() Config { return c.cfg }

// Check runs the whole method on one domain under ctx, which should carry the
// domain's deadline. It never returns an error: whatever went wrong is the
// Result's state and reason. Every string of the Result is sanitised and
// capped (see clean).
func (c *Checker) Check(ctx context.Context, d Domain) Result {
	start := time.Now()
	r := clean(c.check(ctx, d, true))
	r.CheckedAt = start.UTC()
	r.Duration = time.Since(start).Seconds()
	return r
}

// Discover learns what Check learns before it pings: agent state, OS, NIC
// addresses, gateways and their sources. It runs no guest command other than
// the ones OS detection and route reading need. State is left empty unless
// the domain is paused or its agent cannot be used.
func (c *Checker) Discover(ctx context.Context, d Domain) Result {
	start := time.Now()
	r := clean(c.check(ctx, d, false))
	r.CheckedAt = start.UTC()
	r.Duration = time.Since(start).Seconds()
	return r
}

// check runs the method; withProbes false stops before the pings (Discover).
// What a decoder had to cut from the guest's replies is added to the reason
// as notes, whatever the verdict.
func (c *Checker) check(ctx context.Context, d Domain, withProbes bool) (r Result) {
	var notes []string
	defer func() { r.Reason = withNotes(r.Reason, notes) }()
	r = Result{
		Name:   d.Name,
		UUID:   d.UUID,
		OS:     OSResult{Family: string(osdetect.Unknown)},
		NICs:   make([]NICResult, len(d.NICs)),
		Probes: []ProbeResult{},
	}
	for i, n := range d.NICs {
		r.NICs[i] = NICResult{MAC: n.MAC, Device: n.Device, Model: n.Model, SourceType: n.SourceType, Source: n.Source, IPs: []string{}}
	}

	switch d.State {
	case Paused:
		r.State, r.Agent.State = StatePaused, channelAgentState(d.Channel)
		r.Reason = "the domain is paused; it was not probed"
		return r
	case Other:
		r.State, r.Agent.State = StateUnknown, channelAgentState(d.Channel)
		r.Reason = "the domain is neither running nor paused; it was not probed"
		return r
	}
	switch d.Channel {
	case ChannelNone:
		return unknown(r, AgentNoChannel, "the domain has no guest agent channel: add a virtio channel named org.qemu.guest_agent.0 and run qemu-guest-agent in the guest")
	case ChannelDisconnected:
		return unknown(r, AgentDisconnected, "the guest agent is not connected: qemu-guest-agent is not running in the guest; start and enable it")
	}

	ga := guestagent.New(d.Agent)
	if err := ga.Ping(ctx); err != nil {
		return agentFailure(r, "guest-ping", err)
	}
	info, err := ga.Info(ctx)
	if notes, err = truncated(notes, err); err != nil {
		return agentFailure(r, "guest-info", err)
	}
	r.Agent.Version = info.Version
	execOK := info.Enabled("guest-exec") && info.Enabled("guest-exec-status")

	osInfo, osErr := c.detectOS(ctx, ga, d)
	r.OS = OSResult{Family: string(osInfo.Family), ID: osInfo.ID, Name: osInfo.Name, Version: osInfo.Version, Source: osInfo.Source}

	ifaces, ifErr := ga.NetworkInterfaces(ctx)
	if notes, ifErr = truncated(notes, ifErr); ifErr == nil {
		attachGuestInterfaces(r.NICs, ifaces)
	}
	routes, routeSource, routeErr := c.resolveGateways(ctx, ga, d, &r, osInfo.Family, info, ifaces)
	notes, routeErr = truncated(notes, routeErr)

	if !execOK {
		if !withProbes {
			r.Agent.State = AgentExecDisabled
			return r
		}
		return unknown(r, AgentExecDisabled, "guest-exec is blocked by the agent's configuration: allow guest-exec and guest-exec-status in qemu-ga's config (--allow-rpcs/--block-rpcs, BLACKLIST_RPC)")
	}
	r.Agent.State = AgentOK
	if !withProbes {
		if osErr != nil || routeErr != nil {
			r.Reason = guestagent.Sanitize(errors.Join(osErr, routeErr).Error(), 300)
		}
		return r
	}
	if osErr != nil {
		if ctx.Err() != nil {
			return deadline(r, ctx, osErr)
		}
		return unknown(r, AgentOK, fmt.Sprintf("cannot tell the guest's OS, so cannot choose a ping command: %v", osErr))
	}
	if ctx.Err() != nil {
		return deadline(r, ctx, ctx.Err())
	}

	var agentLost bool
	r.Probes, agentLost = c.probe(ctx, ga, osInfo.Family, r.NICs, routes, d.Policy.Targets)
	if agentLost {
		r.Agent.State = AgentUnresponsive
	}
	r.State, r.Reason = verdict(r.Probes)
	if r.State != StateOK {
		var notes []string
		if ifErr != nil {
			notes = append(notes, fmt.Sprintf("guest interfaces unknown: %v", ifErr))
		}
		if routeErr != nil {
			notes = append(notes, fmt.Sprintf("guest routes unknown (%s): %v", routeSource, routeErr))
		}
		if len(notes) > 0 {
			r.Reason += "; " + strings.Join(notes, "; ")
		}
	}
	return r
}

// detectOS returns the cached OS of this boot or detects it.
func (c *Checker) detectOS(ctx context.Context, ga *guestagent.Client, d Domain) (osdetect.Info, error) {
	c.mu.Lock()
	cached, ok := c.osCache[d.BootID]
	c.mu.Unlock()
	if ok && d.BootID != "" {
		return cached, nil
	}
	info, err := osdetect.Detect(ctx, ga)
	if err != nil {
		return info, fmt.Errorf("os detection: %w", err)
	}
	if d.BootID != "" && info.Family != osdetect.Unknown {
		c.mu.Lock()
		c.osCache[d.BootID] = info
		c.mu.Unlock()
	}
	return info, nil
}

// Forget drops cached facts about domains whose BootID is not in keep.
func (c *Checker) Forget(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.osCache {
		if !keep[id] {
			delete(c.osCache, id)
		}
	}
}

// attachGuestInterfaces fills each NIC's guest name and addresses from the
// agent's interface list, matched by MAC.
func attachGuestInterfaces(nics []NICResult, ifaces []guestagent.Interface) {
	for i := range nics {
		for _, gi := range ifaces {
			if gi.MAC == "" || !strings.EqualFold(gi.MAC, nics[i].MAC) {
				continue
			}
			nics[i].GuestName = gi.Name
			for _, p := range gi.Addrs {
				if p.Addr().IsLoopback() {
					continue
				}
				nics[i].IPs = append(nics[i].IPs, p.Addr().String())
			}
		}
	}
}

// resolveGateways sets each NIC's gateway, gateway source and network type,
// in the documented order: config override, libvirt network, guest routes.
// It returns the guest's default routes (if it read them) for probe
// planning.
func (c *Checker) resolveGateways(ctx context.Context, ga *guestagent.Client, d Domain, r *Result,
	fam osdetect.Family, info guestagent.Info, ifaces []guestagent.Interface) ([]osdetect.DefaultRoute, string, error) {
	needRoutes := false
	for i, n := range d.NICs {
		nic := &r.NICs[i]
		nc, hasCfg := c.networkConfig(n)
		switch {
		case hasCfg && nc.Gateway != nil:
			nic.Gateway, nic.GatewaySource = nc.Gateway.String(), "config"
		case len(n.NetworkAddrs) > 0:
			if gw, ok := networkGateway(n.NetworkAddrs, nic.IPs); ok {
				nic.Gateway, nic.GatewaySource = gw.String(), "libvirt-network"
			}
		}
		if nic.Gateway == "" {
			needRoutes = true
		}
		if hasCfg && nc.Type != "" {
			nic.NetworkType = nc.Type
		} else {
			needRoutes = true
		}
	}
	if !needRoutes || fam == osdetect.Unknown {
		defaultNetworkTypes(r.NICs, nil)
		return nil, "", nil
	}
	routes, source, err := osdetect.DefaultRoutes(ctx, ga, fam, info)
	if err != nil && !errors.Is(err, guestagent.ErrTruncated) {
		defaultNetworkTypes(r.NICs, nil)
		return nil, source, err
	}
	carriers := map[int]bool{}
	for _, rt := range routes {
		i := routeNIC(rt, r.NICs, ifaces)
		if i < 0 {
			continue
		}
		carriers[i] = true
		nic := &r.NICs[i]
		// Prefer an IPv4 gateway when a NIC has both; a config or libvirt
		// network answer always wins.
		if nic.Gateway == "" || (nic.GatewaySource == source && rt.Gateway.Is4() && !isV4(nic.Gateway)) {
			nic.Gateway, nic.GatewaySource = rt.Gateway.String(), source
		}
	}
	defaultNetworkTypes(r.NICs, carriers)
	return routes, source, err
}

func (c *Checker) networkConfig(n NIC) (NetworkConfig, bool) {
	if nc, ok := c.cfg.Networks[n.Source]; ok && n.Source != "" {
		return nc, true
	}
	if nc, ok := c.cfg.Networks[n.Bridge]; ok && n.Bridge != "" {
		return nc, true
	}
	return NetworkConfig{}, false
}

// defaultNetworkTypes fills unset network types: the NICs carrying a default
// route are external, the others internal.
func defaultNetworkTypes(nics []NICResult, carriers map[int]bool) {
	for i := range nics {
		if nics[i].NetworkType != "" {
			continue
		}
		if carriers[i] {
			nics[i].NetworkType = NetworkExternal
		} else {
			nics[i].NetworkType = NetworkInternal
		}
	}
}

// networkGateway picks the libvirt network address on the same subnet as one
// of the NIC's guest addresses, else the network's first IPv4 address, else
// its first address.
func networkGateway(netAddrs []netip.Prefix, guestIPs []string) (netip.Addr, bool) {
	for _, s := range guestIPs {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
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

// routeNIC finds the NIC a default route leaves through, by MAC, guest
// interface name, or interface address.
func routeNIC(rt osdetect.DefaultRoute, nics []NICResult, ifaces []guestagent.Interface) int {
	mac := rt.MAC
	if mac == "" && rt.Interface != "" {
		for _, gi := range ifaces {
			if gi.Name == rt.Interface {
				mac = gi.MAC
			}
		}
	}
	if mac == "" && rt.InterfaceAddr.IsValid() {
		for _, gi := range ifaces {
			for _, p := range gi.Addrs {
				if p.Addr() == rt.InterfaceAddr {
					mac = gi.MAC
				}
			}
		}
	}
	if mac == "" {
		return -1
	}
	for i := range nics {
		if strings.EqualFold(nics[i].MAC, mac) {
			return i
		}
	}
	return -1
}

func isV4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// plannedProbe is one ping to run.
type plannedProbe struct {
	res    ProbeResult
	target netip.Addr
}

// planProbes lists the probes for one domain: each configured external
// target and each extra target of the domain's policy whose address family
// the guest routes (or, with no default route at all, every such target),
// and each NIC's gateway once.
func (c *Checker) planProbes(nics []NICResult, routes []osdetect.DefaultRoute, extra []netip.Addr) []plannedProbe {
	var plan []plannedProbe
	external := c.cfg.External
	for _, a := range extra {
		if !slices.Contains(external, a) {
			external = append(slices.Clip(external), a)
		}
	}
	if len(external) == 0 {
		plan = append(plan, plannedProbe{res: ProbeResult{Kind: ProbeExternal, Status: ProbeNotConfigured, Error: "no external target configured"}})
	}
	has4, has6 := false, false
	for _, rt := range routes {
		has4 = has4 || rt.Gateway.Is4()
		has6 = has6 || rt.Gateway.Is6()
	}
	for _, a := range external {
		if len(routes) > 0 && ((a.Is4() && !has4) || (a.Is6() && !has6)) {
			continue
		}
		plan = append(plan, plannedProbe{res: ProbeResult{Kind: ProbeExternal, Target: a.String()}, target: a})
	}
	for _, n := range nics {
		if n.Gateway == "" {
			continue
		}
		a, err := netip.ParseAddr(n.Gateway)
		if err != nil {
			continue
		}
		p := plannedProbe{res: ProbeResult{Kind: ProbeGateway, Target: a.String(), NIC: n.MAC}, target: a}
		if err := validateGateway(a); err != nil {
			p.res.Status, p.res.Error = ProbeError, fmt.Sprintf("gateway not probed: %v", err)
			p.target = netip.Addr{}
		}
		plan = append(plan, p)
	}
	return plan
}

// probe starts every ping of the plan, then collects each result. The
// pings run concurrently inside the guest, so a round costs about one ping
// timeout even when several targets do not answer.
//
// agentLost reports that the agent stopped answering during the probes.
func (c *Checker) probe(ctx context.Context, ga *guestagent.Client, fam osdetect.Family, nics []NICResult, routes []osdetect.DefaultRoute, extra []netip.Addr) (out []ProbeResult, agentLost bool) {
	plan := c.planProbes(nics, routes, extra)
	pids := make([]int64, len(plan))
	for i := range plan {
		p := &plan[i]
		if !p.target.IsValid() {
			continue
		}
		cmd, err := osdetect.PingCommand(fam, p.target, time.Duration(c.cfg.PingTimeout))
		if err != nil {
			p.res.Status, p.res.Error = ProbeError, err.Error()
			continue
		}
		pid, err := ga.Exec(ctx, cmd)
		if err != nil {
			p.res.Status, p.res.Error = ProbeError, execError(cmd.Path, err)
			agentLost = agentLost || errors.Is(err, guestagent.ErrUnresponsive)
			continue
		}
		pids[i] = pid
	}
	out = make([]ProbeResult, len(plan))
	for i := range plan {
		p := &plan[i]
		if pids[i] != 0 {
			st, err := ga.Wait(ctx, pids[i], outputLimit)
			if err != nil {
				p.res.Status, p.res.Error = ProbeError, waitError(err)
				agentLost = agentLost || (errors.Is(err, guestagent.ErrUnresponsive) && !errors.Is(err, guestagent.ErrExecTimeout))
			} else {
				pr := osdetect.ParsePing(fam, p.target, st)
				p.res.OK, p.res.RTT, p.res.Error = pr.OK, pr.RTT.Seconds(), pr.Error
				if pr.OK {
					p.res.Status = ProbePassed
				} else {
					p.res.Status = ProbeFailed
				}
			}
		}
		out[i] = p.res
	}
	return out, agentLost
}

// validateGateway is ValidateTarget, except that a link-local IPv6
// gateway keeps the zone (guest interface) it was learned with: ping needs it.
func validateGateway(a netip.Addr) error {
	if a.Zone() != "" && a.WithZone("").IsLinkLocalUnicast() {
		return ValidateTarget(a.WithZone(""))
	}
	return ValidateTarget(a)
}

func execError(path string, err error) string {
	var ae *guestagent.Error
	if osdetect.IsSpawnFailure(err) && errors.As(err, &ae) {
		return fmt.Sprintf("%s not found in the guest: %s", path, guestagent.Sanitize(ae.Desc, 200))
	}
	return "guest-exec: " + guestagent.Sanitize(err.Error(), 300)
}

func waitError(err error) string {
	switch {
	case errors.Is(err, guestagent.ErrExecTimeout):
		return "timed out: the ping did not finish before the check's deadline"
	case errors.Is(err, guestagent.ErrReplyTooLarge):
		return "the guest command's output was too large to relay: " + guestagent.Sanitize(err.Error(), 200)
	case errors.Is(err, guestagent.ErrUnresponsive):
		return "the guest agent went away while returning the command's result (libvirt drops an agent whose reply exceeds 10 MiB, e.g. a flood of output): " + guestagent.Sanitize(err.Error(), 200)
	}
	return "guest-exec-status: " + guestagent.Sanitize(err.Error(), 300)
}

// verdict turns probe outcomes into the domain state and a one-sentence
// reason.
func verdict(probes []ProbeResult) (State, string) {
	var passed, failed, errs int
	var bad []string
	for _, p := range probes {
		switch p.Status {
		case ProbePassed:
			passed++
			continue
		case ProbeFailed:
			failed++
		case ProbeError:
			errs++
		default:
			continue
		}
		what := string(p.Kind)
		if p.Target != "" {
			what += " " + p.Target
		}
		bad = append(bad, fmt.Sprintf("%s: %s", what, p.Error))
	}
	sort.Strings(bad)
	reason := strings.Join(bad, "; ")
	switch {
	case passed+failed+errs == 0:
		return StateUnknown, "nothing to probe: no external target is configured and no gateway was found"
	case failed == 0 && errs == 0:
		return StateOK, ""
	case failed == 0:
		return StateUnknown, reason
	case passed > 0:
		return StateDegraded, reason
	default:
		return StateDown, reason
	}
}

// channelAgentState describes the agent of a domain that is not probed, from
// its channel alone.
func channelAgentState(ch ChannelState) AgentState {
	switch ch {
	case ChannelNone:
		return AgentNoChannel
	case ChannelDisconnected:
		return AgentDisconnected
	}
	return AgentOK
}

// truncated moves an ErrTruncated error into notes: the value it came with
// is usable. Any other error is returned as it is.
func truncated(notes []string, err error) ([]string, error) {
	if errors.Is(err, guestagent.ErrTruncated) {
		return append(notes, err.Error()), nil
	}
	return notes, err
}

// withNotes appends notes to a reason.
func withNotes(reason string, notes []string) string {
	if len(notes) == 0 {
		return reason
	}
	all := strings.Join(notes, "; ")
	if reason == "" {
		return "note: " + all
	}
	return reason + "; note: " + all
}

func unknown(r Result, a AgentState, reason string) Result {
	r.State, r.Agent.State, r.Reason = StateUnknown, a, reason
	return r
}

func deadline(r Result, ctx context.Context, err error) Result {
	return unknown(r, AgentUnresponsive, fmt.Sprintf("the check did not finish before its deadline: %v", guestagent.Sanitize(err.Error(), 300)))
}

// agentFailure classifies an error from a first agent call.
func agentFailure(r Result, cmd string, err error) Result {
	msg := guestagent.Sanitize(err.Error(), 300)
	switch {
	case errors.Is(err, guestagent.ErrNoChannel):
		return unknown(r, AgentNoChannel, "the domain has no guest agent channel: add a virtio channel named org.qemu.guest_agent.0 and run qemu-guest-agent in the guest")
	case errors.Is(err, guestagent.ErrDomainNotRunning):
		return unknown(r, AgentUnresponsive, "the domain stopped while it was being checked")
	case errors.Is(err, guestagent.ErrCommandDisabled), errors.Is(err, guestagent.ErrCommandNotFound):
		return unknown(r, AgentExecDisabled, fmt.Sprintf("%s is not available in the guest agent: %s", cmd, msg))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, guestagent.ErrUnresponsive):
		return unknown(r, AgentUnresponsive, fmt.Sprintf("the guest agent does not answer (%s): %s; check that qemu-ga is running and not frozen", cmd, msg))
	}
	return unknown(r, AgentUnresponsive, fmt.Sprintf("%s failed: %s", cmd, msg))
}
