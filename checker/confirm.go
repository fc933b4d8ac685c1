package checker

import (
	"context"

	"github.com/vmcheck/vmcheck/model"
)

// confirmUpstream pings once more, and only once, each external target
// that got no reply at all while a gateway answered, before the check
// names upstream_unreachable: only this second ping's outcome counts.
//
// The two pings of the first try are not sent at once: an external
// target's ping starts first (before the routes are read, when this boot
// read them before), the gateway's after the routes are read (an agent
// call or two later, longer on a busy guest), and each waits for its own
// timeout. When the network comes back in between (a bridge
// up again, a gateway's neighbour entry resolved on its last retry), the
// gateway answers and the external ping, sent before, does not: the
// check would blame the path beyond a gateway that is fine, on every VM
// of the network at once. The second ping is sent after the gateway
// answered, so the two outcomes describe the same network. It costs a
// ping and its status reads on this failure path alone.
func (c *Checker) confirmUpstream(ctx context.Context, f *facts, probes []model.ProbeResult) ([]model.ProbeResult, bool) {
	if !gatewayAnswered(probes) {
		return probes, false
	}
	var plan []plannedProbe
	var at []int
	for i, p := range probes {
		if p.Kind == model.ProbeExternal && p.Method == "icmp" && p.Status == model.ProbeFailed && p.Received == 0 && p.Addr.IsValid() {
			plan = append(plan, plannedProbe{res: model.ProbeResult{Kind: model.ProbeExternal, Target: p.Target, Addr: p.Addr}, target: p.Addr})
			at = append(at, i)
		}
	}
	if len(plan) == 0 {
		return probes, false
	}
	again, agentLost := c.runPings(ctx, f, plan)
	for j, i := range at {
		probes[i] = confirmed(probes[i], again[j])
	}
	return probes, agentLost
}

// gatewayAnswered says some gateway's ping passed.
func gatewayAnswered(probes []model.ProbeResult) bool {
	for _, p := range probes {
		if p.Kind == model.ProbeGateway && p.Status == model.ProbePassed {
			return true
		}
	}
	return false
}

// confirmed is the outcome of an external target after its second ping:
// the second ping's, with a note of the first; the first's when the
// second could not run (the agent went away, the deadline passed).
func confirmed(first, second model.ProbeResult) model.ProbeResult {
	switch {
	case second.Status == model.ProbeError:
		first.Note = noteJoin(first.Note, "a second ping after the gateway answered could not run: "+second.Error)
		return first
	case second.OK:
		second.Note = noteJoin(second.Note, "the first ping got no reply ("+first.Error+"); a second, sent after the gateway answered, did")
	default:
		second.Note = noteJoin(second.Note, "no reply to a second ping either, sent after the gateway answered")
	}
	return second
}

// noteJoin appends b to the note a.
func noteJoin(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
