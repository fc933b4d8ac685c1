package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// agentCalls counts every command the fake agent answered.
func agentCalls(g *fakeGuest) int {
	n := 0
	for _, c := range []string{"guest-ping", "guest-info", "guest-get-osinfo", "guest-network-get-interfaces",
		"guest-network-get-route", "guest-file-open", "guest-file-read", "guest-file-close", "guest-exec", "guest-exec-status"} {
		n += g.agent.Calls(c)
	}
	return n
}

// TestSteadyStateAgentCalls: the second check of a healthy Linux guest in
// the same boot makes at most 5 agent calls (guest-info, the OS and the
// routes are cached, guest-ping is skipped: the interface list, then
// guest-exec and one guest-exec-status per ping), and says the same as
// the first.
func TestSteadyStateAgentCalls(t *testing.T) {
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return pingStatus(t, 0, "linux-iputils-reply-v4.txt") })
	c := New(testConfig())
	d := runningDomain(g, capturedNIC)
	first := c.Check(context.Background(), d)
	firstCalls := agentCalls(g)
	second := c.Check(context.Background(), d)
	steady := agentCalls(g) - firstCalls
	if first.State != model.StateOK || second.State != model.StateOK || len(second.Probes) != len(first.Probes) {
		t.Fatalf("states %s, %s (%s); probes %d, %d", first.State, second.State, second.Reason, len(first.Probes), len(second.Probes))
	}
	if steady > 5 {
		t.Errorf("steady-state check: %d agent calls, want ≤ 5", steady)
	}
	if g.agent.Calls("guest-ping") != 1 || g.agent.Calls("guest-info") != 1 {
		t.Errorf("guest-ping %d, guest-info %d calls over two checks; want 1 each", g.agent.Calls("guest-ping"), g.agent.Calls("guest-info"))
	}
	t.Logf("agent calls: first check %d, steady state %d", firstCalls, steady)
}

// TestSteadyStateAgentGone: when the agent stops answering after guest-info
// was cached, the check's first call fails as guest-ping would, and the
// next check asks guest-ping and guest-info again.
func TestSteadyStateAgentGone(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		agent model.AgentState
		want  string
	}{
		{"unresponsive", guestagent.ErrUnresponsive, model.AgentUnresponsive, "the guest agent does not answer (guest-ping)"},
		{"no channel", guestagent.ErrNoChannel, model.AgentNoChannel, "no guest agent channel"},
		{"domain stopped", guestagent.ErrDomainNotRunning, model.AgentUnresponsive, "stopped while it was being checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return pingStatus(t, 0, "linux-iputils-reply-v4.txt") })
			c := New(testConfig())
			d := runningDomain(g, capturedNIC)
			if r := c.Check(context.Background(), d); r.State != model.StateOK {
				t.Fatalf("first check %s: %s", r.State, r.Reason)
			}
			g.answers["guest-network-get-interfaces"] = func(string, json.RawMessage) (any, error) { return nil, tt.err }
			r := c.Check(context.Background(), d)
			if r.State != model.StateUnknown || r.Agent.State != tt.agent || !strings.Contains(r.Reason, tt.want) {
				t.Errorf("second check: %s, agent %s, %q; want unknown, %s, %q", r.State, r.Agent.State, r.Reason, tt.agent, tt.want)
			}
			pings := g.agent.Calls("guest-ping")
			c.Check(context.Background(), d)
			if g.agent.Calls("guest-ping") != pings+1 {
				t.Errorf("after an agent failure the next check made %d guest-ping calls, want 1", g.agent.Calls("guest-ping")-pings)
			}
		})
	}
}
