package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
)

// routeGuest is a captured Linux guest whose route table and answering
// targets the test changes between checks; it counts the route reads.
type routeGuest struct {
	*fakeGuest
	files     map[string][]byte
	answering map[string]bool
	pings     int
}

// reads is how many guest commands other than pings (route reads) ran.
func (g *routeGuest) reads() int { return g.agent.Calls("guest-exec") - g.pings }

func newRouteGuest(t *testing.T) *routeGuest {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	noReply := pingStatus(t, 1, "linux-iputils-noreply-v4.txt")
	g := &routeGuest{files: routeFiles(t), answering: map[string]bool{"192.0.2.1": true, "203.0.113.10": true}}
	g.fakeGuest = newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), g.files, func(cmd guestagent.Command) (agenttest.Process, error) {
		if cmd.Path != "ping" {
			return unexpectedExec(t, cmd)
		}
		g.pings++
		if g.answering[cmd.Args[len(cmd.Args)-1]] {
			return agenttest.Exited(reply), nil
		}
		return agenttest.Exited(noReply), nil
	})
	return g
}

// The steady state reuses the routes of the boot while the interface list
// is the same and the last check passed: a healthy check after the first
// reads them no more, and makes at most 5 agent calls (the interface
// list, and guest-exec and one guest-exec-status for each of the two
// pings).
func TestRoutesReusedInSteadyState(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	for i := range 3 {
		before := agentCalls(g.fakeGuest)
		r := c.Check(context.Background(), d)
		if r.State != model.StateOK || r.NICs[0].Gateway != "192.0.2.1" || r.NICs[0].GatewaySource != "guest-proc-route" {
			t.Fatalf("check %d: %s (%s), nic %+v", i, r.State, r.Reason, r.NICs[0])
		}
		if calls := agentCalls(g.fakeGuest) - before; i > 0 && calls > 5 {
			t.Errorf("check %d: %d agent calls, want ≤ 5", i, calls)
		}
	}
	if g.reads() != 1 {
		t.Errorf("routes read %d times over three healthy checks, want once", g.reads())
	}
}

// A check that pinged from remembered routes and failed reads the routes
// again; when they name another gateway, it pings that one: the guest
// moved to 192.0.2.254 and the old gateway went silent, and the check
// still passes, with the new gateway.
func TestRoutesRereadOnFailure(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	if r := c.Check(context.Background(), d); r.State != model.StateOK {
		t.Fatalf("first check: %s (%s)", r.State, r.Reason)
	}
	g.files["/proc/net/route"] = bytes.Replace(g.files["/proc/net/route"], []byte("010200C0"), []byte("FE0200C0"), 1)
	g.answering = map[string]bool{"192.0.2.254": true, "203.0.113.10": true}
	r := c.Check(context.Background(), d)
	if r.State != model.StateOK || r.NICs[0].Gateway != "192.0.2.254" {
		t.Fatalf("after the gateway moved: %s (%s), nic %+v; want ok through 192.0.2.254", r.State, r.Reason, r.NICs[0])
	}
	if g.reads() != 2 {
		t.Errorf("routes read %d times, want twice (first check, then after the failed ping)", g.reads())
	}
	for _, p := range r.Probes {
		if p.Target == "192.0.2.1" {
			t.Errorf("the old gateway's failed probe is in the result: %+v", p)
		}
	}
}

// A failure that the fresh routes do not explain away stands: the routes
// are read again for the diagnosis, the targets are the same, the silent
// external target is pinged a second time after the gateway answered
// (confirmUpstream), and the next check reads the routes again too (the
// last check did not pass).
func TestRoutesRereadFailureStands(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	c.Check(context.Background(), d)
	g.answering = map[string]bool{"192.0.2.1": true}
	execs := g.agent.Calls("guest-exec")
	r := c.Check(context.Background(), d)
	if r.State != model.StateDegraded {
		t.Fatalf("external silent: %s (%s), want degraded", r.State, r.Reason)
	}
	if n := g.agent.Calls("guest-exec") - execs; n != 4 {
		t.Errorf("%d guest-exec calls, want 4 (two pings, one route read, the external target's second ping)", n)
	}
	c.Check(context.Background(), d)
	if g.reads() != 3 {
		t.Errorf("routes read %d times, want 3", g.reads())
	}
}

// A change in the guest's interface list (an address renewed) makes the
// next check read the routes again.
func TestRoutesRereadWhenInterfacesChange(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	d := runningDomain(g.fakeGuest, capturedNIC)
	c.Check(context.Background(), d)
	c.Check(context.Background(), d)
	if g.reads() != 1 {
		t.Fatalf("routes read %d times, want once", g.reads())
	}
	rec := agenttest.Load(t, qga+"linux-basic.jsonl")
	g.answers["guest-network-get-interfaces"] = func(cmd string, args json.RawMessage) (any, error) {
		raw, err := rec.Answer(cmd, args)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(raw)
		return json.RawMessage(bytes.Replace(b, []byte("192.0.2.13"), []byte("192.0.2.14"), 1)), nil
	}
	c.Check(context.Background(), d)
	if g.reads() != 2 {
		t.Errorf("routes read %d times after the interface list changed, want 2", g.reads())
	}
}

// execOrder wraps a transport and records each guest-exec's program and
// last argument ("ping 203.0.113.10", "cat /proc/net/ipv6_route").
func execOrder(t guestagent.Transport, order *[]string) guestagent.Transport {
	return guestagent.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		var r struct {
			Execute   string `json:"execute"`
			Arguments struct {
				Path string   `json:"path"`
				Arg  []string `json:"arg"`
			} `json:"arguments"`
		}
		if json.Unmarshal(req, &r) == nil && r.Execute == "guest-exec" && len(r.Arguments.Arg) > 0 {
			*order = append(*order, r.Arguments.Path+" "+r.Arguments.Arg[len(r.Arguments.Arg)-1])
		}
		return t.Command(ctx, req)
	})
}

// When a check must read the routes again (the last one failed) and an
// earlier check of the boot read them, the external ping starts before
// the route read: its target does not depend on the routes. The gateway
// ping, which does, starts after.
func TestExternalPingBeforeRouteRead(t *testing.T) {
	g := newRouteGuest(t)
	c := New(testConfig())
	var order []string
	d := runningDomain(g.fakeGuest, capturedNIC)
	d.Agent = execOrder(g.agent, &order)
	c.Check(context.Background(), d)
	if want := []string{"cat /proc/net/ipv6_route", "ping 203.0.113.10", "ping 192.0.2.1"}; !slices.Equal(order, want) {
		t.Fatalf("first check of the boot: guest commands %q, want %q", order, want)
	}
	g.answering = map[string]bool{"192.0.2.1": true}
	c.Check(context.Background(), d) // fails: the next reads the routes
	order = nil
	r := c.Check(context.Background(), d)
	if want := []string{"ping 203.0.113.10", "cat /proc/net/ipv6_route", "ping 192.0.2.1", "ping 203.0.113.10"}; !slices.Equal(order, want) {
		t.Errorf("after a failure: guest commands %q, want %q (the external target pinged again after the gateway answered)", order, want)
	}
	if r.State != model.StateDegraded || len(r.Probes) != 2 || r.Probes[0].Target != "203.0.113.10" || r.Probes[0].Status != model.ProbeFailed {
		t.Errorf("after a failure: %s (%s), probes %+v", r.State, r.Reason, r.Probes)
	}
}
