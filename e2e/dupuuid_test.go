//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// The plain-QEMU lab's twin (lab/qemu.sh twin up): guest 9006, qemu-twin,
// whose QEMU reports guest 9001's UUID (-smbios type=1,uuid=).
const (
	twinID     = "9006"
	twinName   = "qemu-twin"
	twinOfID   = "9001"
	twinOfName = "qemu-healthy"
	sharedUUID = "5c0c0000-0000-4000-8000-000000009001"
)

// TestQEMUDuplicateUUID: two running QEMU VMs that report one UUID (the
// VM's owner sets it, with -uuid or Proxmox VE's smbios1) are both checked,
// each under the UUID derived from its own QMP socket, and each result says
// so and names the other VM (issue 20: one tenant must not hide another).
// The VMs are given as qemu_vms in a config file: guest 9001 from the
// lab's socket directory, the twin from its own.
func TestQEMUDuplicateUUID(t *testing.T) {
	runDir, pveDir := qemuLab(t)
	script := filepath.Join(filepath.Dir(labScript), "qemu.sh")
	start := time.Now()
	out := qemuScript(t, 5*time.Minute, "twin", "up")
	t.Cleanup(func() {
		if out, err := exec.Command(script, "twin", "down").CombinedOutput(); err != nil {
			t.Errorf("lab/qemu.sh twin down: %v\n%s", err, out)
		}
	})
	m := regexp.MustCompile(`(?m)^VMCHECK_QEMU_LAB_TWIN=(/\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lab/qemu.sh twin up printed no VMCHECK_QEMU_LAB_TWIN=:\n%s", out)
	}
	twinDir := m[1]
	t.Logf("lab/qemu.sh twin up: %v", time.Since(start).Round(time.Second))

	cfg := filepath.Join(t.TempDir(), "vmcheck.yml")
	yml := fmt.Sprintf("qemu_vms:\n"+
		"  - {id: %q, qmp: %q, agent: %q}\n"+
		"  - {id: %q, qmp: %q, agent: %q}\n",
		twinOfID, filepath.Join(runDir, twinOfID+".qmp"), filepath.Join(runDir, twinOfID+".qga"),
		twinID, filepath.Join(twinDir, twinID+".qmp"), filepath.Join(twinDir, twinID+".qga"))
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	uuids := dupUUIDCheck(t, cfg, pveDir)
	t.Run("serve", func(t *testing.T) { dupUUIDServe(t, cfg, pveDir, uuids) })
}

// dupUUIDCheck runs `vmcheck check` on the two VMs, asserts what the check
// must say and returns their UUIDs by VM name.
func dupUUIDCheck(t *testing.T, cfg, pveDir string) map[string]string {
	t.Helper()
	args := []string{"check", "--config", cfg, "--pve-config-dir", pveDir, "--output", "json", "--external", external4}
	r := vmcheckRun(t, roundCap, args...)
	if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
		t.Fatalf("vmcheck %v (exit %d): output is not the JSON contract: %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
	}
	t.Logf("vmcheck check: %d domains in %v, exit %d", len(r.report.Domains), r.duration.Round(time.Millisecond), r.code)
	if r.code != output.ExitOK {
		t.Errorf("vmcheck %v exited %d, want %d: %s", args, r.code, output.ExitOK, r.stderr)
	}
	if len(r.report.Domains) != 2 {
		t.Fatalf("%d results, want 2 (both VMs, one UUID): %s", len(r.report.Domains), r.stdout)
	}
	uuids := map[string]string{}
	for _, vm := range []struct{ id, name, other string }{{twinOfID, twinOfName, twinID}, {twinID, twinName, twinOfID}} {
		d := domain(t, r, vm.name)
		uuids[vm.name] = d.UUID
		t.Logf("%s (%s): uuid %s, state %s, reason %q", vm.name, vm.id, d.UUID, d.State, d.Reason)
		if d.State != model.StateOK {
			t.Errorf("%s: state %s (%s), want ok", vm.name, d.State, d.Reason)
		}
		if pr := probe(t, d, model.ProbeExternal, external4); pr.Status != model.ProbePassed {
			t.Errorf("%s: external probe %s, want passed", vm.name, pr.Status)
		}
		if pr := probe(t, d, model.ProbeGateway, gw4); pr.Status != model.ProbePassed {
			t.Errorf("%s: gateway probe %s, want passed", vm.name, pr.Status)
		}
		if d.UUID == sharedUUID || !uuidRE.MatchString(d.UUID) {
			t.Errorf("%s: uuid %q, want one of its own (not the shared %s)", vm.name, d.UUID, sharedUUID)
		}
		mustContain(t, vm.name+" reason", d.Reason, "note:")
		mustContain(t, vm.name+" reason", d.Reason,
			fmt.Sprintf("VM %s reports UUID %s, which VM %s also reports: vmcheck keys it by %s", vm.id, sharedUUID, vm.other, d.UUID))
	}
	if uuids[twinOfName] == uuids[twinName] {
		t.Errorf("both VMs have UUID %s", uuids[twinName])
	}
	// The same UUIDs in a second run: schedule, history and series stay
	// keyed by them.
	r2 := vmcheckRun(t, roundCap, args...)
	if err := json.Unmarshal([]byte(r2.stdout), &r2.report); err != nil {
		t.Fatalf("second vmcheck check: %v\n%s", err, r2.stdout)
	}
	for name, u := range uuids {
		if got := domain(t, r2, name).UUID; got != u {
			t.Errorf("%s: uuid %s in the second run, %s in the first", name, got, u)
		}
	}
	return uuids
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// dupUUIDServe runs `vmcheck serve` on the two VMs until /metrics has a
// round of both, under the UUIDs the check gave them.
func dupUUIDServe(t *testing.T, cfg, pveDir string, uuids map[string]string) {
	addr := expFreeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(vmcheck, "serve", "--config", cfg, "--pve-config-dir", pveDir, "--web.listen-address", addr,
		"--external", external4, "--interval", "5s")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("vmcheck serve log (tail):\n%s", expTail(stderr.String(), 40))
		}
	})
	start := time.Now()
	expWait(t, "a round of both VMs in /metrics", 20*time.Second, func() (bool, string) {
		b, err := expGet("http://" + addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		m, err := parseExposition(b)
		if err != nil {
			return false, err.Error()
		}
		var missing []string
		for name, u := range uuids {
			if v, ok := m.value("vmcheck_domain_state", map[string]string{"domain": name, "uuid": u, "state": "ok"}); !ok || v != 1 {
				missing = append(missing, fmt.Sprintf("%s %s ok=%v", name, u, v))
			}
		}
		if n := len(m["vmcheck_domain_info"].GetMetric()); n != 2 {
			missing = append(missing, fmt.Sprintf("%d domain_info series", n))
		}
		if v, ok := m.value("vmcheck_domain_info", map[string]string{"uuid": sharedUUID}); ok {
			missing = append(missing, fmt.Sprintf("a series under the shared UUID (%v)", v))
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
	t.Logf("vmcheck serve: both VMs in /metrics after %v", time.Since(start).Round(100*time.Millisecond))
}
