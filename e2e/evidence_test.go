//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
)

// The guests whose gateway evidence TestGatewayEvidenceFresh and
// TestGatewayEvidenceReachable read: the debian role (iproute2's ip, which
// dates the last confirmation: ip -s) and the busybox role (busybox ip,
// which does not).
var evidenceGuests = []string{"lab-debian", "lab-busybox"}

// guestNeigh is what `ip -4 neigh show dev eth0` prints in dom, run
// through its agent as the lab's guest faults run their commands.
func guestNeigh(t *testing.T, dom string) string {
	t.Helper()
	req := `{"execute":"guest-exec","arguments":{"path":"ip","arg":["-4","neigh","show","dev","eth0"],"capture-output":true}}`
	var started struct {
		Return struct{ PID int } `json:"return"`
	}
	if err := json.Unmarshal([]byte(lab(t, "virsh", "qemu-agent-command", dom, req)), &started); err != nil {
		t.Fatalf("%s: guest-exec: %v", dom, err)
	}
	for range 50 {
		var st struct {
			Return struct {
				Exited  bool   `json:"exited"`
				OutData string `json:"out-data"`
			} `json:"return"`
		}
		out := lab(t, "virsh", "qemu-agent-command", dom, fmt.Sprintf(`{"execute":"guest-exec-status","arguments":{"pid":%d}}`, started.Return.PID))
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("%s: guest-exec-status: %v: %s", dom, err, out)
		}
		if st.Return.Exited {
			b, _ := base64.StdEncoding.DecodeString(st.Return.OutData)
			return strings.TrimSpace(string(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: ip neigh did not finish", dom)
	return ""
}

// waitNotConfirmed waits until no guest of doms holds a REACHABLE, DELAY
// or PROBE entry for its gateway: STALE (15-45 s after its last
// confirmation), FAILED or none at all. It returns each guest's entry.
func waitNotConfirmed(t *testing.T, doms []string) map[string]string {
	t.Helper()
	seen := map[string]string{}
	deadline := time.Now().Add(2 * time.Minute)
	for _, dom := range doms {
		for {
			n := guestNeigh(t, dom)
			if !strings.HasSuffix(n, "REACHABLE") && !strings.HasSuffix(n, "DELAY") && !strings.HasSuffix(n, "PROBE") {
				seen[dom] = n
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the gateway's entry stayed %q for 2 minutes", dom, n)
			}
			time.Sleep(3 * time.Second)
		}
	}
	return seen
}

// TestGatewayEvidenceFresh: with the gateway dropping echo requests,
// guests whose entry for it is STALE (cached) or gone say
// gateway_icmp_filtered only from a fresh answer: the failed ping sends a
// STALE entry to DELAY, the kernel probes it 5 s later, and vmcheck reads
// it again after that (REACHABLE); with the gateway gone the same
// re-check ends FAILED: gateway_unresolved, never gateway_icmp_filtered.
func TestGatewayEvidenceFresh(t *testing.T) {
	args := append(domainArgs(evidenceGuests...), "--external", external4, "--ping-timeout", "1s", "--timeout", "20s")
	for _, c := range []struct {
		fault, undo string
		code        model.Code
		stale, gone string // in the detail, after a STALE entry / none
	}{
		{"gateway-drop-icmp", "gateway-allow-icmp", model.CodeGatewayICMPFiltered, "DELAY after the ping, REACHABLE", "REACHABLE"},
		{"gateway-absent", "gateway-present", model.CodeGatewayUnresolved, "FAILED", "FAILED"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			lab(t, "fault", c.fault)
			t.Cleanup(func() { lab(t, "fault", c.undo) })
			before := waitNotConfirmed(t, evidenceGuests)
			r := check(t, roundCap, args...)
			for _, dom := range evidenceGuests {
				d := domain(t, r, dom)
				t.Logf("%s: entry before the check %q; diagnosis %s", dom, before[dom], diagJSON(d))
				if len(d.Diagnosis) == 0 {
					t.Errorf("%s: no diagnosis (state %s, %s)", dom, d.State, d.Reason)
					continue
				}
				want := c.gone
				if before[dom] != "" {
					want = c.stale
				}
				if g := d.Diagnosis[0]; g.Code != c.code || !strings.Contains(g.Detail, want) {
					t.Errorf("%s: first cause %s %q, want %s with %q", dom, g.Code, g.Detail, c.code, want)
				}
			}
		})
	}
}

// settleGatewayEntry waits, for a case that must end gateway_unresolved,
// until the entry of every guest of doms no longer holds a confirmation
// from before the fault (see waitNotConfirmed): a REACHABLE entry that
// nobody confirms any more stays REACHABLE for up to 45 s, and vmcheck
// asks arping, gets no answer and says gateway_unconfirmed
// (TestGatewayEvidenceReachable), not
// gateway_unresolved. A gateway that answers ARP needs no wait: arping
// gets its answer whatever the entry's state. Other codes need none.
func settleGatewayEntry(t *testing.T, code model.Code, doms ...string) {
	t.Helper()
	if code == model.CodeGatewayUnresolved {
		waitNotConfirmed(t, doms)
	}
}

// TestGatewayEvidenceReachable: a gateway entry the guest confirmed just
// before the fault is REACHABLE at the check; busybox ip prints no
// confirmation time and iproute2's dates it before the failed ping, so
// vmcheck asks the gateway afresh with the guest's arping. The gateway dropping echo requests answers it:
// gateway_icmp_filtered. The gateway gone does not: gateway_unconfirmed,
// never gateway_icmp_filtered from the cached entry.
func TestGatewayEvidenceReachable(t *testing.T) {
	args := append(domainArgs(evidenceGuests...), "--external", external4, "--ping-timeout", "1s", "--timeout", "20s")
	for _, c := range []struct {
		fault, undo string
		code        model.Code
		detail      string
	}{
		{"gateway-drop-icmp", "gateway-allow-icmp", model.CodeGatewayICMPFiltered, "the gateway answered fresh ARP requests (arping"},
		{"gateway-absent", "gateway-present", model.CodeGatewayUnconfirmed, "no answer to fresh ARP requests (arping"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			// A healthy check pings every gateway: each entry turns
			// REACHABLE (at once, or from DELAY after the kernel's probe).
			if r := check(t, roundCap, args...); r.code != 0 {
				t.Fatalf("before the fault: exit %d, want 0", r.code)
			}
			before := waitReachable(t, evidenceGuests)
			lab(t, "fault", c.fault)
			t.Cleanup(func() { lab(t, "fault", c.undo) })
			r := check(t, roundCap, args...)
			for _, dom := range evidenceGuests {
				d := domain(t, r, dom)
				t.Logf("%s: entry before the check %q; diagnosis %s", dom, before[dom], diagJSON(d))
				if len(d.Diagnosis) == 0 {
					t.Fatalf("%s: no diagnosis (state %s, %s)", dom, d.State, d.Reason)
				}
				if g := d.Diagnosis[0]; g.Code != c.code || !strings.Contains(g.Detail, c.detail) {
					t.Errorf("%s: first cause %s %q, want %s with %q", dom, g.Code, g.Detail, c.code, c.detail)
				}
			}
		})
	}
}

// waitReachable waits until every guest of doms holds a REACHABLE entry
// for its gateway (at most 20 s: a used DELAY entry is probed after 5 s),
// and returns each guest's entry. REACHABLE lasts at least 15 s after
// the confirmation.
func waitReachable(t *testing.T, doms []string) map[string]string {
	t.Helper()
	seen := map[string]string{}
	deadline := time.Now().Add(20 * time.Second)
	for _, dom := range doms {
		for n := guestNeigh(t, dom); ; n = guestNeigh(t, dom) {
			if strings.HasSuffix(n, "REACHABLE") {
				seen[dom] = n
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the gateway's entry is %q 20 s after a healthy check, want REACHABLE", dom, n)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return seen
}
