package checker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vmcheck/vmcheck/checker/diagnose"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe"
)

// outputLimit caps what vmcheck keeps of one guest command's stdout or
// stderr. Ping prints a few hundred bytes; anything more is noise or abuse.
const outputLimit = probe.OutputLimit

// plannedProbe is one ping to run.
type plannedProbe struct {
	res    model.ProbeResult
	target netip.Addr
}

// planProbes lists the probes for one domain: each configured external
// target and each extra target of the domain's policy whose address family
// the guest routes (or, with no default route at all, every such target),
// and each NIC's gateway once.
func (c *Checker) planProbes(nics []nicFacts, routes []osdetect.DefaultRoute, extra []netip.Addr) []plannedProbe {
	var plan []plannedProbe
	external := c.cfg.External
	for _, a := range extra {
		if !slices.Contains(external, a) {
			external = append(slices.Clip(external), a)
		}
	}
	if len(external) == 0 {
		plan = append(plan, plannedProbe{res: model.ProbeResult{Kind: model.ProbeExternal, Status: model.ProbeNotConfigured, Error: "no external target configured"}})
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
		p := plannedProbe{res: model.ProbeResult{Kind: model.ProbeExternal, Target: a.String(), Addr: a}, target: a}
		if n := holder(nics, a); n != "" {
			// The guest answers its own address: the ping would pass
			// whatever the network does.
			p.res.Status, p.res.Error = model.ProbeError, fmt.Sprintf("not probed: the guest holds this address on %s, so it always answers; configure an address outside the VM", n)
			p.target = netip.Addr{}
		}
		plan = append(plan, p)
	}
	for _, n := range nics {
		a := n.gateway
		if !a.IsValid() {
			continue
		}
		p := plannedProbe{res: model.ProbeResult{Kind: model.ProbeGateway, Target: a.String(), Addr: a, NIC: n.mac}, target: a}
		if err := osdetect.ValidatePingTarget(a); err != nil {
			p.res.Status, p.res.Error = model.ProbeError, fmt.Sprintf("gateway not probed: %v", err)
			p.target = netip.Addr{}
		}
		plan = append(plan, p)
	}
	return append(plan, addressProbes(nics)...)
}

// holder names the guest interface that holds address a, "" when none
// does.
func holder(nics []nicFacts, a netip.Addr) string {
	for _, n := range nics {
		if slices.Contains(n.addrs, a) {
			return cmp.Or(n.guestName, n.mac.String())
		}
	}
	return ""
}

// addressProbes checks, for each NIC the platform assigned addresses to,
// that the guest holds each of them on that NIC. They need no guest
// command: the interface list says it.
func addressProbes(nics []nicFacts) []plannedProbe {
	var plan []plannedProbe
	for _, n := range nics {
		for _, e := range n.expected {
			res := model.ProbeResult{Kind: model.ProbeAddress, Target: e.Addr.String(), Addr: e.Addr, NIC: n.mac}
			switch {
			case slices.Contains(n.addrs, e.Addr):
				res.OK, res.Status = true, model.ProbePassed
			case n.guestName == "":
				res.Status, res.Error = model.ProbeFailed, fmt.Sprintf("assigned by %s; no guest interface has this NIC's MAC", e.Source)
			default:
				res.Status, res.Error = model.ProbeFailed, fmt.Sprintf("assigned by %s; %s holds %s", e.Source, n.guestName, diagnose.AddrList(n.addrs, e.Addr.Is4()))
			}
			plan = append(plan, plannedProbe{res: res})
		}
	}
	return plan
}

// probe starts every ping of the plan, then collects each result. The
// pings run concurrently inside the guest, so a round costs about one ping
// timeout even when several targets do not answer.
//
// agentLost reports that the agent stopped answering during the probes.
func (c *Checker) probe(ctx context.Context, f *facts, extra []netip.Addr) (out []model.ProbeResult, agentLost bool) {
	plan := c.planProbes(f.nics, f.routes, extra)
	methods := c.startMethods(ctx, f, plan, false)
	defer c.dropEarlyPings(ctx, f)
	out, agentLost = c.runPings(ctx, f, plan)
	out = append(out, methods()...)
	if agentLost {
		c.boots.SetInfo(f.d.BootID, f.info, false)
	}
	return out, agentLost
}

// runPings starts the ping of each probe of the plan that has a target,
// then reads each one's outcome when it is due; it returns one result per
// probe of the plan, in order.
func (c *Checker) runPings(ctx context.Context, f *facts, plan []plannedProbe) (out []model.ProbeResult, agentLost bool) {
	ga, fam := f.agent, f.os.Family
	icmp, _ := probe.Lookup("icmp")
	spec := f.d.Policy.ICMP()
	pids, started, agentLost := c.startPings(ctx, f, plan, spec)
	expect := c.boots.PingTime(f.d.BootID)
	countKey := fmt.Sprintf("icmp %d", spec.Count) // a ping with a count takes its own time
	if spec.Count > 1 {
		expect = c.boots.Took(f.d.BootID, countKey)
	}
	out = make([]model.ProbeResult, len(plan))
	for i := range plan {
		p := &plan[i]
		if pids[i] != 0 {
			st, reads, err := ga.WaitAfter(ctx, pids[i], outputLimit, expect-time.Since(started[i]))
			if err != nil {
				p.res.Status, p.res.Error = model.ProbeError, waitError(err)
				agentLost = agentLost || (errors.Is(err, guestagent.ErrUnresponsive) && !errors.Is(err, guestagent.ErrExecTimeout))
			} else {
				p.res = fromMethod(p.res, icmp.Parse(fam, p.target, st, spec))
				switch {
				case p.res.OK && spec.Count <= 1:
					c.boots.LearnPingTime(f.d.BootID, time.Since(started[i]), reads)
				case p.res.OK:
					c.boots.LearnTime(f.d.BootID, countKey, time.Since(started[i]), reads)
				}
			}
		}
		out[i] = p.res
	}
	return out, agentLost
}

// startPings starts the ping of each probe of the plan that has a
// target, or takes the one startEarlyPings started for it.
func (c *Checker) startPings(ctx context.Context, f *facts, plan []plannedProbe, spec probe.Spec) (pids []int64, started []time.Time, agentLost bool) {
	icmp, _ := probe.Lookup("icmp")
	pids, started = make([]int64, len(plan)), make([]time.Time, len(plan))
	for i := range plan {
		p := &plan[i]
		if !p.target.IsValid() {
			continue
		}
		if sp, ok := f.takeEarlyPing(p.target); ok && p.res.Kind == model.ProbeExternal {
			pids[i], started[i] = sp.pid, sp.started
			continue
		}
		cmd, err := icmp.Command(f.os.Family, p.target, time.Duration(c.cfg.PingTimeout), spec)
		if err != nil {
			p.res.Status, p.res.Error = model.ProbeError, err.Error()
			continue
		}
		pid, err := f.agent.Exec(ctx, cmd)
		if err != nil {
			p.res.Status, p.res.Error = model.ProbeError, execError(cmd.Path, err)
			agentLost = agentLost || errors.Is(err, guestagent.ErrUnresponsive)
			continue
		}
		pids[i], started[i] = pid, time.Now()
	}
	return pids, started, agentLost
}

// dropEarlyPings waits for the early pings the plan did not take (their
// target's family lost its route), so that none outlives the check, and
// drops their results.
func (c *Checker) dropEarlyPings(ctx context.Context, f *facts) {
	for t, sp := range f.earlyPings {
		f.agent.WaitAfter(ctx, sp.pid, outputLimit, c.boots.PingTime(f.d.BootID)-time.Since(sp.started))
		delete(f.earlyPings, t)
	}
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
