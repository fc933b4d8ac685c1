//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// healthy are guests whose checks are ok in a healthy lab.
var healthy = []string{"lab-debian", "lab-busybox", "lab-windows", "lab-twonic"}

func domainArgs(names ...string) []string {
	var a []string
	for _, n := range names {
		a = append(a, "--domain", n)
	}
	return a
}

func TestOutsideLinkCut(t *testing.T) {
	lab(t, "fault", "cut-outside")
	t.Cleanup(func() { lab(t, "fault", "restore-outside") })
	r := check(t, roundCap, append(domainArgs("lab-debian", "lab-windows"), "--external", external4, "--ping-timeout", "1s", "--timeout", "15s")...)
	if r.code != output.ExitProbeFailed {
		t.Errorf("exit code = %d, want %d", r.code, output.ExitProbeFailed)
	}
	for _, name := range []string{"lab-debian", "lab-windows"} {
		d := domain(t, r, name)
		if d.State != model.StateDegraded {
			t.Errorf("%s: state = %q, want degraded (reason %q)", name, d.State, d.Reason)
		}
		if p := probe(t, d, model.ProbeExternal, external4); p.Status != model.ProbeFailed {
			t.Errorf("%s: external probe = %q (%s), want failed", name, p.Status, p.Error)
		}
		if p := probe(t, d, model.ProbeGateway, gw4); p.Status != model.ProbePassed {
			t.Errorf("%s: gateway probe = %q (%s), want ok", name, p.Status, p.Error)
		}
	}
	// The lab router answers "destination net unreachable"; Windows'
	// ping.exe prints it as a reply line and exits 0. vmcheck must still
	// call the probe failed, and say why.
	if p := probe(t, domain(t, r, "lab-windows"), model.ProbeExternal, external4); !strings.Contains(strings.ToLower(p.Error), "unreachable") {
		t.Errorf("lab-windows external probe error = %q, want the unreachable reply named", p.Error)
	}

	lab(t, "fault", "restore-outside")
	r = check(t, roundCap, append(domainArgs("lab-debian"), "--external", external4)...)
	if d := domain(t, r, "lab-debian"); d.State != model.StateOK || r.code != output.ExitOK {
		t.Errorf("after restore: lab-debian %q (%s), exit %d; want ok, 0", d.State, d.Reason, r.code)
	}
}

func TestGatewayRemoved(t *testing.T) {
	lab(t, "fault", "drop-gateway")
	t.Cleanup(func() { lab(t, "fault", "restore-gateway") })
	r := check(t, roundCap, append(domainArgs("lab-debian", "lab-windows"), "--external", external4, "--ping-timeout", "1s", "--timeout", "15s")...)
	for _, name := range []string{"lab-debian", "lab-windows"} {
		d := domain(t, r, name)
		if d.State != model.StateDown {
			t.Errorf("%s: state = %q, want down (reason %q, probes %+v)", name, d.State, d.Reason, d.Probes)
		}
	}
	for _, name := range []string{"lab-debian", "lab-windows"} {
		if p := probe(t, domain(t, r, name), model.ProbeGateway, gw4); p.OK || p.Status != model.ProbeFailed {
			t.Errorf("%s gateway probe = %+v, want failed", name, p)
		}
	}
}

// TestFrozenAgent freezes one guest's agent and checks that its check ends at
// its own deadline as unresponsive while the other domains of the same round
// take about as long as they do in a round without it.
func TestFrozenAgent(t *testing.T) {
	names := append([]string{"lab-freeze"}, healthy...)
	args := append(domainArgs(names...), "--external", external4, "--timeout", "10s", "--concurrency", "8")
	before := check(t, roundCap, args...)
	if d := domain(t, before, "lab-freeze"); d.State != model.StateOK {
		t.Fatalf("lab-freeze before the fault: %q (%s)", d.State, d.Reason)
	}

	lab(t, "fault", "freeze-agent", "lab-freeze")
	t.Cleanup(func() { lab(t, "fault", "reset", "lab-freeze") })
	during := check(t, roundCap, args...)
	d := domain(t, during, "lab-freeze")
	if d.State != model.StateUnknown || d.Agent.State != model.AgentUnresponsive {
		t.Errorf("frozen lab-freeze: state %q agent %q (%s), want unknown/unresponsive", d.State, d.Agent.State, d.Reason)
	}
	if d.Duration > 10+1.5 {
		t.Errorf("frozen lab-freeze took %.1fs, past its 10s deadline", d.Duration)
	}
	if during.duration > 10*time.Second+5*time.Second {
		t.Errorf("round with a frozen agent took %s; it must end near the 10s deadline", during.duration)
	}
	var ratios []float64
	for _, n := range healthy {
		b, a := domain(t, before, n), domain(t, during, n)
		if a.State != model.StateOK {
			t.Errorf("%s: %q (%s) in the round with a frozen neighbour", n, a.State, a.Reason)
		}
		ratios = append(ratios, a.Duration/b.Duration)
	}
	sort.Float64s(ratios)
	median := ratios[len(ratios)/2]
	t.Logf("healthy check duration with/without a frozen neighbour: median ratio %.2f (all %v)", median, ratios)
	// Isolation, not speed: a neighbour queued behind the frozen agent
	// would take the full 10 s deadline, a ratio of 5 or more.
	if median > 3 {
		t.Errorf("healthy domains slowed by a frozen neighbour: median duration ratio %.2f", median)
	}
}

func TestDomainDestroyedMidRound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), roundCap)
	defer cancel()
	t.Cleanup(func() { lab(t, "fault", "start", "lab-busybox") })
	type outcome struct {
		r   run
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := checkExec(roundCap, append(domainArgs(healthy...), "--external", external4, "--timeout", "15s")...)
		done <- outcome{r, err}
	}()
	time.Sleep(300 * time.Millisecond)
	if out, err := exec.CommandContext(ctx, labScript, "fault", "destroy", "lab-busybox").CombinedOutput(); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.r
	for _, d := range r.report.Domains {
		if d.Name == "lab-busybox" {
			if d.State == model.StateDown || d.State == model.StateDegraded {
				t.Errorf("destroyed lab-busybox reported as a link failure: %q (%s)", d.State, d.Reason)
			}
			continue
		}
		if d.State != model.StateOK {
			t.Errorf("%s: %q (%s) while a neighbour was destroyed", d.Name, d.State, d.Reason)
		}
	}
	if r.code == output.ExitError {
		t.Errorf("round exited 3: %s", r.stderr)
	}
}

func TestLibvirtdRestartBetweenRounds(t *testing.T) {
	args := append(domainArgs("lab-debian", "lab-windows"), "--external", external4)
	if r := check(t, roundCap, args...); r.code != output.ExitOK {
		t.Fatalf("before restart: exit %d: %s", r.code, r.stdout)
	}
	lab(t, "fault", "restart-libvirtd")
	// libvirtd reconnects to the running domains' agents on start; give it
	// a few rounds' worth of time, then every domain must be ok again.
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := check(t, roundCap, args...)
		if r.code == output.ExitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after libvirtd restart: exit %d: %s", r.code, r.stdout)
		}
		time.Sleep(2 * time.Second)
	}
}

func TestDomainsCommand(t *testing.T) {
	r := vmcheckRun(t, roundCap, "domains", "-c", labURI, "--output", "json", "--domain", "lab-twonic", "--domain", "lab-noexec")
	if r.code != 0 {
		t.Fatalf("domains exited %d: %s", r.code, r.stderr)
	}
	mustContain(t, "domains output", r.stdout, `"gateway_source": "libvirt-network"`)
	mustContain(t, "domains output", r.stdout, `"state": "exec_disabled"`)
	if strings.Contains(r.stdout, `"kind"`) {
		t.Errorf("domains ran probes: %s", r.stdout)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad external", []string{"check", "-c", labURI, "--external", "203.0.113.999"}, `--external "203.0.113.999": not an IP address`},
		{"multicast external", []string{"check", "-c", labURI, "--external", "224.0.0.1"}, "multicast"},
		{"bad output", []string{"check", "-c", labURI, "--output", "xml"}, `--output: "xml" is not table or json`},
		{"no libvirt", []string{"check", "-c", "qemu+unix:///system?socket=/nonexistent/sock"}, "connecting to libvirt"},
		{"missing config", []string{"check", "-c", labURI, "--config", "/nonexistent.yaml"}, "config"},
		{"ping timeout too long", []string{"check", "-c", labURI, "--timeout", "2s", "--ping-timeout", "2s"}, "--ping-timeout: 2s must be at most half of the timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vmcheckRun(t, 30*time.Second, tt.args...)
			if r.code != output.ExitError {
				t.Errorf("exit code = %d, want 3", r.code)
			}
			mustContain(t, "stderr", r.stderr, tt.want)
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, r.stderr)
			}
		})
	}
}
