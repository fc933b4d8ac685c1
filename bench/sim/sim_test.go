package sim_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

var ext = netip.MustParseAddr("203.0.113.10")

func fast() *sim.Latency {
	return &sim.Latency{RoundTrip: 100 * time.Microsecond, Exec: 200 * time.Microsecond, PingReply: time.Millisecond}
}

// TestFleetChecks runs the real checker over simulated guests and expects
// the verdicts a lab gives: ok for answering guests (Debian and busybox
// alike), degraded for a silent external target, unknown for a frozen agent.
func TestFleetChecks(t *testing.T) {
	tests := []struct {
		name  string
		cfg   sim.FleetConfig
		want  model.State
		probe model.ProbeStatus // status of the external probe
	}{
		{"answering", sim.FleetConfig{N: 6, BusyboxEvery: 3}, model.StateOK, model.ProbePassed},
		{"silent external", sim.FleetConfig{N: 2, Silent: true}, model.StateDegraded, model.ProbeFailed},
		{"frozen", sim.FleetConfig{N: 1, Frozen: []int{0}}, model.StateUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.External, tt.cfg.Latency = ext, fast()
			doms, guests := sim.Fleet(tt.cfg)
			c := checker.New(settings.Config{External: []netip.Addr{ext}, Timeout: config.Duration(2 * time.Second), PingTimeout: config.Duration(time.Second)})
			for _, r := range c.CheckAll(context.Background(), doms) {
				if r.State != tt.want {
					t.Errorf("%s: state %s (%s), want %s", r.Name, r.State, r.Reason, tt.want)
				}
				if tt.probe == "" {
					continue
				}
				if len(r.Probes) != 2 || r.Probes[0].Status != tt.probe || r.Probes[1].Status != model.ProbePassed {
					t.Errorf("%s: probes %+v, want external %s and gateway ok", r.Name, r.Probes, tt.probe)
				}
				if r.NICs[0].Gateway != guests[0].Gateway().String() && r.Name == "sim-0000" {
					t.Errorf("%s: gateway %q, want %s", r.Name, r.NICs[0].Gateway, guests[0].Gateway())
				}
			}
		})
	}
}

// TestExecStatusOnce checks the one-read rule of a finished process.
func TestExecStatusOnce(t *testing.T) {
	c := guestagent.New(sim.NewGuest(sim.GuestConfig{Latency: fast()}))
	ctx := context.Background()
	pid, err := c.Exec(ctx, guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", "1", "10.0.0.1"}, CaptureOutput: true})
	if err != nil || pid != 1000 {
		t.Fatalf("guest-exec = pid %d, %v; want pid 1000", pid, err)
	}
	time.Sleep(5 * time.Millisecond)
	if st, err := c.ExecStatus(ctx, pid); err != nil || !st.Exited {
		t.Errorf("first status = %+v, %v; want exited", st, err)
	}
	if _, err := c.ExecStatus(ctx, pid); err == nil || !strings.Contains(err.Error(), "Invalid parameter 'pid'") {
		t.Errorf("second status error = %v, want the agent's Invalid parameter 'pid'", err)
	}
}
