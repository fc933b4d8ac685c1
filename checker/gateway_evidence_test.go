package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker/diagnose"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
)

// TestGatewayEvidence runs whole failing checks of the captured Linux
// guest whose evidence commands print the neighbour states captured by
// testdata/neighbours/capture-linux-nud.sh, in the order the kernel moves
// through them, and checks the cause gatewayCause names: only a fresh
// entry is an answer to ARP/ND.
func TestGatewayEvidence(t *testing.T) {
	for _, tt := range []struct {
		name   string
		neigh  []string // what each ip neigh prints, in turn
		link   string   // what cat prints
		arping string   // "answered" or "none": what arping says
		want   model.Code
		detail string
		waits  int // evidence waits for the kernel's re-check
		// pingTimeout, when set, is the config's --ping-timeout (the
		// failed ping's length, from which the evidence dates the ping)
		pingTimeout time.Duration
	}{
		{name: "REACHABLE (busybox), the gateway answers arping: fresh", neigh: []string{"linux-neigh4-reachable-busybox.txt"}, arping: "answered",
			want: model.CodeGatewayICMPFiltered, detail: "the gateway answered fresh ARP requests (arping"},
		{name: "REACHABLE (busybox), no answer to arping: not confirmed", neigh: []string{"linux-neigh4-reachable-busybox.txt"}, arping: "none",
			want: model.CodeGatewayUnconfirmed, detail: "no answer to fresh ARP requests"},
		{name: "REACHABLE, confirmed during the check (iproute2 -s; a 3 s ping)", neigh: []string{"linux-neigh4-reachable-iproute2.txt", "linux-neigh4-reachable-iproute2-s.txt"},
			want: model.CodeGatewayICMPFiltered, detail: "during this check", pingTimeout: 3 * time.Second},
		{name: "REACHABLE, confirmed 1-2 s before the read, the ping 1 s: arping", neigh: []string{"linux-neigh4-reachable-iproute2.txt", "linux-neigh4-reachable-iproute2-s.txt"}, arping: "answered",
			want: model.CodeGatewayICMPFiltered, detail: "last confirmed 1 s before the read (before the failed ping), and the gateway answered"},
		{name: "REACHABLE, confirmed before the ping (iproute2 -s): the gateway may be gone", neigh: []string{"linux-neigh4-reachable-absent-iproute2.txt", "linux-neigh4-reachable-absent-iproute2-s.txt"},
			want: model.CodeGatewayUnconfirmed, detail: "last confirmed 6 s before the read"},
		{name: "STALE: a cached address, no answer", neigh: []string{"linux-neigh4-stale-iproute2.txt"}, link: "linux-arp-up-cat.txt",
			want: model.CodeGatewayUnconfirmed, detail: "STALE"},
		{name: "drop-icmp: DELAY, REACHABLE after the re-check", neigh: []string{"linux-neigh4-delay-dropicmp-busybox.txt", "linux-neigh4-reachable-dropicmp-busybox.txt"},
			want: model.CodeGatewayICMPFiltered, detail: "answered the kernel's probe during this check", waits: 1},
		{name: "absent: DELAY, FAILED after the re-check", neigh: []string{"linux-neigh4-delay-absent-iproute2.txt", "linux-neigh4-failed-absent-iproute2.txt"},
			want: model.CodeGatewayUnresolved, detail: "got no answer", waits: 1},
		{name: "absent: still PROBE", neigh: []string{"linux-neigh4-delay-absent-busybox.txt", "linux-neigh4-probe-absent-busybox.txt"},
			want: model.CodeGatewayUnconfirmed, detail: "PROBE", waits: 1},
		{name: "interface down: no entry, link down", neigh: []string{"linux-neigh4-down-iproute2.txt"}, link: "linux-arp-down-cat.txt",
			want: model.CodeGuestLinkDown, detail: "tap0 is down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ran []string
			g := newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), routeFiles(t), func(cmd guestagent.Command) (agenttest.Process, error) {
				switch cmd.Path {
				case "ip":
					n := min(countPrefix(ran, "ip"), len(tt.neigh)-1)
					ran = append(ran, "ip "+strings.Join(cmd.Args, " "))
					return agenttest.Exited(evidenceStatus(t, tt.neigh[n])), nil
				case "cat":
					ran = append(ran, "cat")
					return agenttest.Exited(evidenceStatus(t, tt.link)), nil
				case "arping":
					ran = append(ran, "arping")
					return agenttest.Exited(arpingStatus(t, tt.arping == "answered")), nil
				case "ping":
					return agenttest.Exited(pingExit(t, 1, "linux-iputils-reply-v4.txt")), nil
				}
				return unexpectedExec(t, cmd)
			})
			var waits []time.Duration
			defer stubEvidenceWait(func(ctx context.Context, at time.Time) error {
				if d := time.Until(at); d > 0 {
					waits = append(waits, d)
				}
				return ctx.Err()
			})()
			// Run gives each check the config's timeout as its deadline.
			cfg := testConfig()
			if tt.pingTimeout > 0 {
				cfg.PingTimeout = config.Duration(tt.pingTimeout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Timeout))
			defer cancel()
			r := New(cfg).Check(ctx, runningDomain(g, capturedNIC))
			if len(r.Diagnosis) == 0 {
				t.Fatalf("no diagnosis (state %s, %s), evidence commands %q", r.State, r.Reason, ran)
			}
			d := r.Diagnosis[0]
			if d.Code != tt.want || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("first cause %s %q, want %s with %q; evidence commands %q", d.Code, d.Detail, tt.want, tt.detail, ran)
			}
			if len(ran) > osdetect.MaxEvidenceCommands || len(ran) == 0 {
				t.Errorf("evidence commands %q, want 1 to %d", ran, osdetect.MaxEvidenceCommands)
			}
			if len(waits) != tt.waits {
				t.Errorf("waited %v, want %d waits", waits, tt.waits)
			}
			// The check's deadline (5 s) cuts the wait short, keeping
			// EvidenceReserve for the command.
			for _, w := range waits {
				if w > time.Duration(testConfig().Timeout)-diagnose.EvidenceReserve {
					t.Errorf("waited %s, past the deadline less %s", w, diagnose.EvidenceReserve)
				}
			}
		})
	}
}

// stubEvidenceWait replaces evidenceWait and returns the undo.
func stubEvidenceWait(f func(context.Context, time.Time) error) func() {
	old := evidenceWait
	evidenceWait = f
	return func() { evidenceWait = old }
}

func countPrefix(ss []string, p string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

// TestGatewayEvidenceWait: the real wait runs until the time asked, or
// stops with the context.
func TestGatewayEvidenceWait(t *testing.T) {
	start := time.Now()
	if err := evidenceWait(context.Background(), start.Add(20*time.Millisecond)); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("wait: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := evidenceWait(ctx, time.Now().Add(time.Hour)); err == nil {
		t.Error("a cancelled wait returned nil")
	}
}
