//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
)

// packageFiles are paths the vmcheck .deb must install.
var packageFiles = []string{
	"/usr/bin/vmcheck",
	"/etc/vmcheck/vmcheck.yml",
	"/etc/default/vmcheck",
	"/lib/systemd/system/vmcheck.service",
	"/lib/systemd/system/vmcheck-cron.service",
	"/lib/systemd/system/vmcheck-cron.timer",
	"/usr/share/man/man1/vmcheck.1.gz",
	"/usr/share/bash-completion/completions/vmcheck",
	"/usr/share/zsh/vendor-completions/_vmcheck",
	"/usr/share/doc/vmcheck/copyright",
	"/usr/share/doc/vmcheck/changelog.Debian.gz",
	"/usr/share/doc/vmcheck/README.md.gz",
}

// packageLeftovers must all be gone after a purge: the package's files,
// its state directory and the symlinks and state of deb-systemd-helper.
var packageLeftovers = []string{
	"/usr/bin/vmcheck",
	"/etc/vmcheck",
	"/etc/default/vmcheck",
	"/var/lib/vmcheck",
	"/lib/systemd/system/vmcheck.service",
	"/lib/systemd/system/vmcheck-cron.service",
	"/lib/systemd/system/vmcheck-cron.timer",
	"/usr/share/doc/vmcheck",
	"/etc/systemd/system/multi-user.target.wants/vmcheck.service",
	"/var/lib/systemd/deb-systemd-helper-enabled/vmcheck.service.dsh-also",
	"/var/lib/systemd/deb-systemd-helper-enabled/vmcheck-cron.timer.dsh-also",
	"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/vmcheck.service",
}

// pkgRun runs a command of the package test with a deadline and returns
// its combined output.
func pkgRun(t *testing.T, limit time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), errors.Join(err, ctx.Err())
	}
	return string(out), err
}

// TestPackageDeb installs the vmcheck .deb that `make package-check` built
// and checked (VMCHECK_PACKAGE_DIR; `make test` sets it), checks what it
// installed and enabled, runs the installed vmcheck against the lab, then
// purges it and checks that nothing is left.
func TestPackageDeb(t *testing.T) {
	dir := os.Getenv("VMCHECK_PACKAGE_DIR")
	if dir == "" {
		t.Skip("VMCHECK_PACKAGE_DIR is not set: `make test` builds the packages and sets it")
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "vmcheck_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("%s: %d vmcheck_*.deb, want 1 (run make package)", dir, len(debs))
	}
	if out, _ := pkgRun(t, time.Minute, "dpkg-query", "-W", "-f", "${Status}\n", "vmcheck", "vmcheck-nolibvirt"); strings.Contains(out, " installed") {
		t.Fatalf("a vmcheck package is already installed on this machine; not touching it:\n%s", out)
	}
	apt := []string{"-y", "-q", "-o", "DPkg::Lock::Timeout=300", "--no-install-recommends"}
	purged := false
	purge := func() {
		if out, err := pkgRun(t, 5*time.Minute, "apt-get", append(apt, "purge", "vmcheck")...); err != nil {
			t.Errorf("apt-get purge vmcheck: %v\n%s", err, out)
		}
		purged = true
	}
	t.Cleanup(func() {
		if !purged {
			purge()
		}
	})
	if out, err := pkgRun(t, 5*time.Minute, "apt-get", append(apt, "install", debs[0])...); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", debs[0], err, out)
	}

	assertInstalled(t)
	assertInstalledVersion(t, debs[0])
	assertInstalledRuns(t)

	purge()
	assertPurged(t)
}

// assertInstalled checks the files, the conffile, the state directory,
// what is enabled, and the installed units with systemd-analyze.
func assertInstalled(t *testing.T) {
	t.Helper()
	for _, f := range packageFiles {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed package: %v", err)
		}
	}
	conffiles, _ := pkgRun(t, time.Minute, "dpkg-query", "-W", "-f", "${Conffiles}", "vmcheck")
	for _, f := range []string{"/etc/vmcheck/vmcheck.yml", "/etc/default/vmcheck"} {
		if !strings.Contains(conffiles, " "+f+" ") {
			t.Errorf("%s is not a conffile: %q", f, conffiles)
		}
	}
	// The units' EnvironmentFile, byte for byte as deploy/systemd ships it.
	if got, err := os.ReadFile("/etc/default/vmcheck"); err != nil {
		t.Error(err)
	} else if want, _ := os.ReadFile("../deploy/systemd/vmcheck.default"); string(got) != string(want) {
		t.Errorf("/etc/default/vmcheck is not deploy/systemd/vmcheck.default:\n%s", got)
	}
	if st, err := os.Stat("/var/lib/vmcheck"); err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Errorf("/var/lib/vmcheck: %v, want a directory with mode 0700 (err %v)", st, err)
	}
	// Enabled as Debian's prometheus-node-exporter is; the timer is not.
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/vmcheck.service"); err != nil {
		t.Errorf("vmcheck.service is not enabled: %v", err)
	}
	if _, err := os.Lstat("/etc/systemd/system/timers.target.wants/vmcheck-cron.timer"); err == nil {
		t.Error("vmcheck-cron.timer is enabled; only vmcheck.service should be")
	}
	units, _ := filepath.Glob("/lib/systemd/system/vmcheck*")
	if out, err := pkgRun(t, time.Minute, "systemd-analyze", append([]string{"verify"}, units...)...); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %v: %v\n%s", units, err, out)
	}
}

// assertInstalledVersion: --version names the package's release, a commit
// and the Go version, never "dev".
func assertInstalledVersion(t *testing.T, deb string) {
	t.Helper()
	out, err := pkgRun(t, time.Minute, "/usr/bin/vmcheck", "--version")
	if err != nil {
		t.Fatalf("vmcheck --version: %v\n%s", err, out)
	}
	// vmcheck_<version>-1_amd64.deb
	ver := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(deb), "vmcheck_"), "-1_amd64.deb")
	if !strings.HasPrefix(out, "vmcheck version "+ver+" (commit ") || strings.Contains(out, "unknown") ||
		!strings.Contains(out, ", go1.") {
		t.Errorf("installed vmcheck --version = %q, want version %s, a commit and the Go version", out, ver)
	}
}

// assertInstalledRuns runs the installed vmcheck check against one lab
// guest with the installed config, and one cron round whose state file
// lands in the package's /var/lib/vmcheck (which purge must remove).
func assertInstalledRuns(t *testing.T) {
	t.Helper()
	out, err := pkgRun(t, 2*time.Minute, "/usr/bin/vmcheck", "check", "-c", labURI, "--config", "/etc/vmcheck/vmcheck.yml",
		"--domain", "lab-debian", "--external", external4, "--output", "json")
	if err != nil {
		t.Fatalf("installed vmcheck check: %v\n%s", err, out)
	}
	var rep model.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("installed vmcheck check: not the JSON contract: %v\n%s", err, out)
	}
	if len(rep.Domains) != 1 || rep.Domains[0].Name != "lab-debian" || rep.Domains[0].State != model.StateOK {
		t.Errorf("installed vmcheck check = %s, want lab-debian ok", out)
	}
	if out, err := pkgRun(t, 2*time.Minute, "/usr/bin/vmcheck", "cron", "-c", labURI, "--domain", "lab-debian",
		"--textfile-dir", t.TempDir(), "--state-file", "/var/lib/vmcheck/cron-state.json"); err != nil {
		t.Errorf("installed vmcheck cron: %v\n%s", err, out)
	}
	if _, err := os.Stat("/var/lib/vmcheck/cron-state.json"); err != nil {
		t.Errorf("installed vmcheck cron wrote no state: %v", err)
	}
}

// assertPurged: dpkg knows no file of vmcheck and none is left.
func assertPurged(t *testing.T) {
	t.Helper()
	if out, err := pkgRun(t, time.Minute, "dpkg", "-L", "vmcheck"); err == nil {
		t.Errorf("dpkg -L vmcheck after purge still lists:\n%s", out)
	}
	for _, f := range packageLeftovers {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after purge: %s is still there (%v)", f, err)
		}
	}
}
