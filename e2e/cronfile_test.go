//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cronFile is the crontab the project ships for hosts without systemd
// timers (the packages install it as an example).
const cronFile = "../deploy/cron/vmcheck"

// cronCommand returns the command of the one job in cronFile: the line
// after the five time fields and the user.
func cronCommand(t *testing.T) string {
	t.Helper()
	f, err := os.Open(cronFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var jobs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.Contains(strings.Fields(line)[0], "=") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 7 || fields[5] != "root" {
			t.Fatalf("%s: %q is not \"m h dom mon dow root command\"", cronFile, line)
		}
		jobs = append(jobs, strings.Join(fields[6:], " "))
	}
	if len(jobs) != 1 {
		t.Fatalf("%s: %d jobs, want 1", cronFile, len(jobs))
	}
	return jobs[0]
}

// TestShippedCronReportsOutage runs the shipped crontab's command line,
// as cron would (sh -c, vmcheck found in PATH), against the lab: only its
// paths are moved into a scratch directory, and the state file's directory
// does not exist yet, as on a fresh host. lab-badgw is down; with the
// default --down-after of 3 (the file sets none) the third run must report
// it down, which needs the history to survive between runs.
func TestShippedCronReportsOutage(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(vmcheck, filepath.Join(bin, "vmcheck")); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("../deploy/vmcheck.yml") // the packages' conffile
	if err != nil {
		t.Fatal(err)
	}
	conf = append(conf, []byte("connect: "+labURI+"\ndomains: [lab-badgw, lab-debian]\n")...)
	textfiles := filepath.Join(tmp, "node-exporter")
	stateDir := filepath.Join(tmp, "var", "lib", "vmcheck")
	log := filepath.Join(tmp, "syslog")
	for _, err := range []error{os.WriteFile(filepath.Join(tmp, "vmcheck.yml"), conf, 0o644), os.Mkdir(textfiles, 0o755)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := cronCommand(t)
	for _, r := range [][2]string{
		{"/run/vmcheck-cron.lock", filepath.Join(tmp, "vmcheck-cron.lock")},
		{"/etc/vmcheck/vmcheck.yml", filepath.Join(tmp, "vmcheck.yml")},
		{"/var/lib/prometheus/node-exporter", textfiles},
		{"/var/lib/vmcheck/", stateDir + "/"},
		{"logger -t vmcheck", "cat >>" + log},
	} {
		if !strings.Contains(cmd, r[0]) {
			t.Fatalf("%s: the job no longer contains %q; update this test: %s", cronFile, r[0], cmd)
		}
		cmd = strings.ReplaceAll(cmd, r[0], r[1])
	}
	t.Logf("cron job as run: %s", cmd)

	const exporterDownAfter = 3 // history.DefaultDownAfter (exporter/history); the shipped job sets none
	for run := 1; run <= 3; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
		c.Env = append(os.Environ(), "PATH="+bin+":/usr/sbin:/usr/bin:/sbin:/bin")
		out, err := c.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		b, err := os.ReadFile(filepath.Join(textfiles, "vmcheck.prom"))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		m := expParse(t, b)
		down, _ := m.value("vmcheck_domain_state", map[string]string{"domain": "lab-badgw", "state": "down"})
		fails, _ := m.value("vmcheck_consecutive_failures", map[string]string{"domain": "lab-badgw"})
		// The first run re-checks the failing VM inside the run until
		// --down-after (3 by default) confirms the outage; later runs carry
		// the streak through the state file.
		if want := float64(exporterDownAfter + run - 1); fails != want {
			t.Errorf("run %d: lab-badgw consecutive failures = %v, want %v (retries in the run, then the state file %s)", run, fails, want, stateDir)
		}
		if down != 1 {
			t.Errorf("run %d: lab-badgw reported down = false, want true (a cron run confirms an outage itself)", run)
		}
		if ok, _ := m.value("vmcheck_domain_state", map[string]string{"domain": "lab-debian", "state": "ok"}); ok != 1 {
			t.Errorf("run %d: lab-debian is not reported ok", run)
		}
	}
	st, err := os.Stat(stateDir)
	if err != nil {
		t.Fatalf("state directory: %v", err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("state directory %s has mode %v, want 0700", stateDir, st.Mode().Perm())
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), `"domain":"lab-badgw"`) || !strings.Contains(string(b), `"state":"down"`) {
		t.Errorf("the job's log has no line reporting lab-badgw down:\n%s", b)
	}
}
