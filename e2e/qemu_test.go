//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agentsocket"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// The plain-QEMU lab (lab/qemu.sh): QEMU without libvirt, Proxmox VE
// layout, on the libvirt lab's bridge. Guests and what vmcheck must say,
// with the libvirt lab guest that must get the same verdict.
var qemuLabWants = map[string]struct {
	want    want
	libvirt string // the libvirt lab's twin
}{
	"qemu-healthy": {want{state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:90:01": {gw4, "guest-proc-route", "external"}}}, "lab-debian"},
	"qemu-badgw": {want{state: model.StateDown, agent: model.AgentOK, family: "linux", osID: "debian",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbeFailed, p(model.ProbeGateway, badGW): model.ProbeFailed},
		nics:   map[string][3]string{"52:54:00:0c:90:02": {badGW, "guest-proc-route", "external"}}}, "lab-badgw"},
	"qemu-paused":  {want{state: model.StatePaused, family: "unknown", reason: "paused"}, "lab-paused"},
	"qemu-noagent": {want{state: model.StateUnknown, agent: model.AgentDisconnected, family: "unknown", reason: "not connected"}, "lab-noagent"},
	// lab/hostile's bombs through the direct socket; no twin compared (its
	// replies rotate).
	"qemu-hostile": {want{state: model.StateUnknown, hostile: true}, ""},
}

// qemuLab brings lab/qemu.sh up (it is idempotent) and, if it was not up
// before, takes it down when the test ends (unless VMCHECK_QEMU_LAB_KEEP
// is set). It returns the socket and config directories.
func qemuLab(t *testing.T) (run, pve string) {
	t.Helper()
	script := filepath.Join(filepath.Dir(labScript), "qemu.sh")
	dir := os.Getenv("VMCHECK_QEMU_LAB_DIR")
	if dir == "" {
		dir = "/var/tmp/vmcheck-qemu-lab"
	}
	_, err := os.Stat(filepath.Join(dir, "env"))
	wasUp := err == nil
	start := time.Now()
	qemuScript(t, 10*time.Minute, "up")
	t.Logf("lab/qemu.sh up: %v", time.Since(start).Round(time.Second))
	if !wasUp && os.Getenv("VMCHECK_QEMU_LAB_KEEP") == "" {
		t.Cleanup(func() {
			out, err := exec.Command(script, "down").CombinedOutput()
			if err != nil {
				t.Errorf("lab/qemu.sh down: %v\n%s", err, out)
			}
		})
	}
	return filepath.Join(dir, "run"), filepath.Join(dir, "pve")
}

func qemuScript(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	script := filepath.Join(filepath.Dir(labScript), "qemu.sh")
	out, err := exec.CommandContext(ctx, script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lab/qemu.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// qemuCheck runs `vmcheck check --qemu-dir` against the plain-QEMU lab.
func qemuCheck(t *testing.T, runDir, pveDir string, args ...string) run {
	t.Helper()
	full := append([]string{"check", "--qemu-dir", runDir, "--pve-config-dir", pveDir, "--output", "json", "--external", external4}, args...)
	r := vmcheckRun(t, roundCap, full...)
	if r.code == output.ExitError {
		t.Fatalf("vmcheck %v exited 3: %s", full, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
		t.Fatalf("vmcheck %v: output is not the JSON contract: %v\n%s", full, err, r.stdout)
	}
	return r
}

// shape is what must agree between a plain-QEMU guest and its libvirt
// twin: everything but names, addresses, MACs and times.
func shape(d model.Result) string {
	var probes []string
	for _, pr := range d.Probes {
		target := pr.Target
		if pr.Kind == model.ProbeGateway {
			target = "gw"
		}
		probes = append(probes, fmt.Sprintf("%s/%s=%s", pr.Kind, target, pr.Status))
	}
	sort.Strings(probes)
	var nics []string
	for _, n := range d.NICs {
		nics = append(nics, fmt.Sprintf("%s/%s/%s", n.GatewaySource, n.NetworkType, n.GuestName))
	}
	return fmt.Sprintf("state=%s agent=%s os=%s/%s/%s/%s probes=%v nics=%v", d.State, d.Agent.State,
		d.OS.Family, d.OS.ID, d.OS.Version, d.OS.Source, probes, nics)
}

func TestQEMUHost(t *testing.T) {
	runDir, pveDir := qemuLab(t)

	t.Run("contract", func(t *testing.T) {
		r := qemuCheck(t, runDir, pveDir)
		t.Logf("vmcheck check --qemu-dir: %d domains in %v, exit %d", len(r.report.Domains), r.duration.Round(time.Millisecond), r.code)
		if r.code != output.ExitProbeFailed {
			t.Errorf("exit %d, want %d (qemu-badgw is down)", r.code, output.ExitProbeFailed)
		}
		if len(r.report.Domains) != len(qemuLabWants) {
			t.Errorf("%d domains, want %d: %s", len(r.report.Domains), len(qemuLabWants), r.stdout)
		}
		for name, w := range qemuLabWants {
			assertWant(t, domain(t, r, name), w.want)
		}
		// The Proxmox VE config supplies model, bridge and tap device; without
		// one (qemu-badgw) QMP supplies the MAC alone.
		h := domain(t, r, "qemu-healthy").NICs[0]
		if h.Model != "virtio" || h.SourceType != "bridge" || h.Source != "vcpub0" || h.Device != "tap9001i0" ||
			h.GuestName != "eth0" || !reflect.DeepEqual(h.IPs, []string{"192.0.2.91", "fe80::5054:ff:fe0c:9001"}) {
			t.Errorf("qemu-healthy NIC = %+v", h)
		}
		if b := domain(t, r, "qemu-badgw").NICs[0]; b.Source != "" || b.Device != "" || b.GuestName != "eth0" {
			t.Errorf("qemu-badgw NIC = %+v, want no source or device (no config)", b)
		}
		if u := domain(t, r, "qemu-healthy").UUID; u != "5c0c0000-0000-4000-8000-000000009001" {
			t.Errorf("qemu-healthy UUID = %q, want QEMU's smbios uuid", u)
		}
	})

	t.Run("same verdicts as libvirt", func(t *testing.T) {
		q := qemuCheck(t, runDir, pveDir)
		var twins []string
		for _, w := range qemuLabWants {
			if w.libvirt != "" {
				twins = append(twins, "--domain", w.libvirt)
			}
		}
		l := check(t, roundCap, append([]string{"--external", external4}, twins...)...)
		compared := 0
		for name, w := range qemuLabWants {
			if w.libvirt == "" {
				continue
			}
			var twin *model.Result
			for i := range l.report.Domains {
				if l.report.Domains[i].Name == w.libvirt {
					twin = &l.report.Domains[i]
				}
			}
			if twin == nil {
				t.Logf("%s: libvirt twin %s not in this lab; not compared", name, w.libvirt)
				continue
			}
			compared++
			if got, want := shape(domain(t, q, name)), shape(*twin); got != want {
				t.Errorf("%s vs %s:\n qemu:    %s\n libvirt: %s", name, w.libvirt, got, want)
			}
		}
		if compared == 0 {
			t.Skip("no libvirt twins in this lab")
		}
	})

	t.Run("domains", func(t *testing.T) {
		r := vmcheckRun(t, roundCap, "domains", "--qemu-dir", runDir, "--pve-config-dir", pveDir, "--output", "json")
		if r.code != 0 {
			t.Fatalf("vmcheck domains exited %d: %s", r.code, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
			t.Fatal(err)
		}
		if d := domain(t, r, "qemu-healthy"); d.NICs[0].GatewaySource != "guest-proc-route" || len(d.Probes) != 0 {
			t.Errorf("domains qemu-healthy = %+v", d)
		}
	})

	t.Run("connect and qemu-dir", func(t *testing.T) {
		r := vmcheckRun(t, roundCap, "check", "--connect", labURI, "--qemu-dir", runDir)
		if r.code != output.ExitError || !strings.Contains(r.stderr, "--qemu-dir") {
			t.Errorf("check --connect --qemu-dir = exit %d, %q; want exit 3 naming the conflict", r.code, r.stderr)
		}
	})

	t.Run("agent held by another client", func(t *testing.T) {
		qemuScript(t, time.Minute, "fault", "hold-agent", "9001", "60")
		defer qemuScript(t, time.Minute, "fault", "release-agent", "9001")
		r := qemuCheck(t, runDir, pveDir, "--domain", "qemu-healthy")
		d := domain(t, r, "qemu-healthy")
		if d.State != model.StateUnknown || d.Agent.State != model.AgentUnresponsive {
			t.Errorf("state %s, agent %s, want unknown/unresponsive", d.State, d.Agent.State)
		}
		mustContain(t, "reason", d.Reason, "another client holds the agent socket")
		if r.duration > 10*time.Second {
			t.Errorf("took %v: vmcheck must back off, not wait for the socket", r.duration)
		}
		qemuScript(t, time.Minute, "fault", "release-agent", "9001")
		if d := domain(t, qemuCheck(t, runDir, pveDir, "--domain", "qemu-healthy"), "qemu-healthy"); d.State != model.StateOK {
			t.Errorf("after release: state %s (%s), want ok", d.State, d.Reason)
		}
	})

	t.Run("late reply", func(t *testing.T) {
		// The guest stops its own agent for a while; a command sent
		// meanwhile times out, and its reply, written when the agent
		// resumes, waits in QEMU's port for the next client.
		s := agentsocket.New(filepath.Join(runDir, "9001.qga"), agentsocket.Options{})
		defer s.Close()
		c := guestagent.New(s)
		qemuScript(t, time.Minute, "fault", "freeze-agent", "9001", "4")
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Info(ctx)
		cancel()
		if !errors.Is(err, guestagent.ErrUnresponsive) {
			t.Fatalf("Info while the agent is stopped: %v, want ErrUnresponsive", err)
		}
		time.Sleep(4 * time.Second)
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := s.Command(ctx, []byte(`{"execute":"guest-sync","arguments":{"id":4242}}`))
		if err != nil || string(got) != `{"return": 4242}` {
			t.Errorf("guest-sync after the late guest-info = %q, %v; want {\"return\": 4242}", got, err)
		}
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})

	// The build for Proxmox hosts has no cgo and no libvirt at all; it must
	// give the same verdicts.
	t.Run("build without libvirt", func(t *testing.T) {
		static := filepath.Join(t.TempDir(), "vmcheck-nolibvirt")
		build := exec.Command("go", "build", "-o", static, "./cmd/vmcheck")
		build.Dir = filepath.Dir(filepath.Dir(labScript))
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
		}
		full := []string{"check", "--qemu-dir", runDir, "--pve-config-dir", pveDir, "--output", "json", "--external", external4}
		ctx, cancel := context.WithTimeout(context.Background(), roundCap)
		defer cancel()
		out, err := exec.CommandContext(ctx, static, full...).Output()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == output.ExitProbeFailed) {
			t.Fatalf("vmcheck-nolibvirt %v: %v", full, err)
		}
		var rep model.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("vmcheck-nolibvirt: not the JSON contract: %v\n%s", err, out)
		}
		for name, w := range qemuLabWants {
			found := false
			for _, d := range rep.Domains {
				if d.Name == name {
					found = true
					assertWant(t, d, w.want)
				}
			}
			if !found {
				t.Errorf("vmcheck-nolibvirt: no result for %s", name)
			}
		}
	})

	t.Run("QEMU gone, sockets left", func(t *testing.T) {
		qemuScript(t, time.Minute, "fault", "kill", "9004")
		defer qemuScript(t, 10*time.Minute, "fault", "start", "9004")
		r := qemuCheck(t, runDir, pveDir)
		for _, d := range r.report.Domains {
			if d.Name == "qemu-noagent" {
				t.Errorf("a VM whose QEMU is gone is listed: %+v", d)
			}
		}
		if len(r.report.Domains) != len(qemuLabWants)-1 {
			t.Errorf("%d domains, want %d", len(r.report.Domains), len(qemuLabWants)-1)
		}
	})
}
