package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// A network that comes back between the external target's ping and the
// gateway's (sent later) must not be blamed beyond the gateway: the
// external target is pinged again once the gateway answered, and only
// that ping counts.
func TestUpstreamConfirmedAfterGateway(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	// The first external ping is lost; every ping after it (the gateway's,
	// then the external target's second) is answered.
	g.answering = map[string]bool{"192.0.2.1": true}
	var order []string
	d.Agent = execOrder(guestagent.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		out, err := g.agent.Command(ctx, req)
		if len(order) > 0 && order[len(order)-1] == "ping 192.0.2.1" {
			g.answering["203.0.113.10"] = true // the network is back
		}
		return out, err
	}), &order)
	r := c.Check(context.Background(), d)
	if r.State != model.StateOK || len(r.Diagnosis) != 0 {
		t.Fatalf("network back before the gateway ping: %s (%s), diagnosis %+v; want ok", r.State, r.Reason, r.Diagnosis)
	}
	if got := strings.Join(order, ", "); !strings.HasSuffix(got, "ping 192.0.2.1, ping 203.0.113.10") {
		t.Errorf("guest commands %s: want the external target pinged again after the gateway", got)
	}
	ext := r.Probes[0]
	if ext.Target != "203.0.113.10" || !ext.OK || !strings.Contains(ext.Note, "the first ping got no reply") {
		t.Errorf("external probe %+v: want passed, with a note of the lost first ping", ext)
	}
}

// The second ping failing too stands: upstream_unreachable, named from a
// ping sent after the gateway answered.
func TestUpstreamConfirmedStands(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	g.answering = map[string]bool{"192.0.2.1": true}
	pings := g.pings
	r := c.Check(context.Background(), d)
	if r.State != model.StateDegraded || len(r.Diagnosis) != 1 || r.Diagnosis[0].Code != model.CodeUpstreamUnreachable {
		t.Fatalf("external silent: %s (%s), diagnosis %+v; want degraded, upstream_unreachable", r.State, r.Reason, r.Diagnosis)
	}
	if n := g.pings - pings; n != 3 {
		t.Errorf("%d pings, want 3 (external, gateway, the external target's second)", n)
	}
	if !strings.Contains(r.Probes[0].Note, "no reply to a second ping either") {
		t.Errorf("external probe %+v: want a note of the second ping", r.Probes[0])
	}
	// No gateway answering: nothing to confirm against, no second ping
	// (f is not touched).
	silent := []model.ProbeResult{
		{Kind: model.ProbeExternal, Method: "icmp", Status: model.ProbeFailed, Target: "203.0.113.10", Addr: r.Probes[0].Addr},
		{Kind: model.ProbeGateway, Method: "icmp", Status: model.ProbeFailed, Target: "192.0.2.1"},
	}
	if out, lost := c.confirmUpstream(context.Background(), nil, silent); lost || out[0].Note != "" {
		t.Errorf("no gateway answering: %+v, agent lost %v; want the first outcome untouched", out[0], lost)
	}
}
