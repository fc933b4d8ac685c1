package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestMain points the default config file at a path that does not exist,
// so that no test reads the machine's /etc/vmcheck/vmcheck.yml.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmcheck-test")
	if err != nil {
		panic(err)
	}
	defaultConfigFile = filepath.Join(dir, "no-such-vmcheck.yml")
	stderr = io.Discard
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the vmcheck CLI in-process with args and returns its exit
// code, the message it would print on stderr after "vmcheck: ", and what
// it wrote on stderr before (logs, notes).
func run(t *testing.T, args ...string) (code int, msg, logs string) {
	t.Helper()
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()
	err := newApp().Run(append([]string{"vmcheck"}, args...))
	if err == nil {
		return 0, "", buf.String()
	}
	var ec cli.ExitCoder
	if !errors.As(err, &ec) {
		t.Fatalf("vmcheck %s: %v, an error without an exit code", strings.Join(args, " "), err)
	}
	return ec.ExitCode(), err.Error(), buf.String()
}

// TestUsageErrors: each usage error of issue 20's list is one line naming
// the flag or command as the operator writes it, with the nearest one
// where there is one, and exit 3 — not the libraries' words.
func TestUsageErrors(t *testing.T) {
	empty := t.TempDir() // a QEMU directory with no VM: nothing to connect to
	q := []string{"--qemu-dir", empty}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"chek"}, `unknown command "chek" (did you mean "check"?)`},
		{"unknown flag", []string{"check", "--bogus"}, "unknown flag --bogus; see vmcheck check --help"},
		{"misspelt flag", []string{"check", "--tmeout", "5s"}, "unknown flag --tmeout (did you mean --timeout?)"},
		{"not a duration", []string{"check", "--timeout", "5"}, `--timeout "5": not a duration, use e.g. 30s`},
		{"not a number", []string{"check", "--concurrency", "x"}, `--concurrency "x": not a whole number`},
		{"no value", []string{"check", "--timeout"}, "--timeout needs a value"},
		{"zero interval", append([]string{"serve", "--interval", "0s"}, q...), "--interval 0s: must be positive, use e.g. 30s"},
		{"zero timeout", append([]string{"check", "--timeout", "0s"}, q...), "--timeout 0s: must be positive"},
		{"bad log level", append([]string{"check", "--log-level", "x"}, q...), `--log-level "x": want debug, info, warn or error`},
		{"bad log level, node_exporter's flag", append([]string{"check", "--log.level", "x"}, q...), `--log-level "x": want debug, info, warn or error`},
		{"bad log format", append([]string{"check", "--log.format", "xml"}, q...), `--log-format "xml": want text (or logfmt) or json`},
		{"flag as a value", []string{"check", "--domain", "--qemu-dir", empty}, `--domain "--qemu-dir": a value cannot start with "-"`},
		{"loopback external", append([]string{"check", "--external", "127.0.0.1"}, q...), `--external "127.0.0.1": 127.0.0.1 is a loopback address: the guest itself always answers it`},
		{"loopback external, IPv6", append([]string{"check", "--external", "::1"}, q...), "is a loopback address"},
		{"flag value under its flag", append([]string{"check", "--ping-timeout", "20s"}, q...), "--ping-timeout: 20s must be at most half of the timeout (30s)"},
		{"concurrency under its flag", append([]string{"check", "--concurrency", "5000"}, q...), "--concurrency: must be between 1 and 1024, got 5000"},
		{"agent-calls under its flag", append([]string{"check", "--agent-calls", "5000"}, q...), "--agent-calls: must be between 1 and 1024, got 5000"},
		{"agent-calls zero", append([]string{"check", "--agent-calls", "0"}, q...), "--agent-calls: must be at least 1, got 0"},
		{"cron without --textfile-dir", append([]string{"cron"}, q...), "--textfile-dir: required"},
		{"missing domain", append([]string{"check", "--domain", "no-such-vm"}, q...), `--domain: no running or paused domain has the name or UUID "no-such-vm"`},
		{"missing domain, domains", append([]string{"domains", "--domain", "no-such-vm"}, q...), `"no-such-vm"`},
		{"probe with commas kept whole", append([]string{"check", "--probe", "icmp,count=50"}, q...), `--probe "icmp,count=50": count: 50 is not between 1 and 20`},
		{"probe method unknown", append([]string{"check", "--probe", "ntp"}, q...), `--probe "ntp": method: "ntp" is not one of dns, http, icmp, mtu, tcp`},
		{"probe twice", append([]string{"check", "--probe", "mtu", "--probe", "mtu"}, q...), "--probe: probes[1].method: a second mtu probe"},
		{"probe bad url", append([]string{"check", "--probe", "http,url=ftp://203.0.113.1/"}, q...), "only http and https URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, logs := run(t, tt.args...)
			if code != 3 || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || strings.Contains(logs, "USAGE") {
				t.Errorf("vmcheck %s = exit %d, %q (stderr %q), want exit 3 and one line containing %q",
					strings.Join(tt.args, " "), code, msg, logs, tt.want)
			}
			for _, lib := range []string{"No help topic", "provided but not defined", "parse error", "logrus", "ping_timeout"} {
				if strings.Contains(msg, lib) {
					t.Errorf("vmcheck %s: %q speaks of %q", strings.Join(tt.args, " "), msg, lib)
				}
			}
		})
	}
}

// TestLogFlagsOfNodeExporter: node_exporter's --log.level and
// --log.format logfmt are accepted.
func TestLogFlagsOfNodeExporter(t *testing.T) {
	code, msg, _ := run(t, "domains", "--qemu-dir", t.TempDir(), "--log.level", "debug", "--log.format", "logfmt")
	if code != 0 {
		t.Errorf("vmcheck domains --log.level debug --log.format logfmt = exit %d, %q, want 0", code, msg)
	}
}

// TestNoVMChecked: a round that checks no VM says so on stderr.
func TestNoVMChecked(t *testing.T) {
	for _, cmd := range []string{"check", "domains"} {
		code, msg, logs := run(t, cmd, "--qemu-dir", t.TempDir(), "--log-level", "error")
		if code != 0 || !strings.Contains(logs, "vmcheck: no VM checked: no running or paused domain") {
			t.Errorf("vmcheck %s on an empty host = exit %d, %q, stderr %q, want exit 0 and a line saying no VM was checked", cmd, code, msg, logs)
		}
	}
}

// TestDefaultConfigFile: without --config the default file is read when
// it exists (issue 20: the packaged config was ignored by the CLI);
// --config ” reads none.
func TestDefaultConfigFile(t *testing.T) {
	old := defaultConfigFile
	defer func() { defaultConfigFile = old }()
	defaultConfigFile = filepath.Join(t.TempDir(), "vmcheck.yml")
	empty := t.TempDir()
	if err := os.WriteFile(defaultConfigFile, []byte("qemu_dir: "+empty+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file selects the QEMU backend: no libvirt, no VM.
	if code, msg, logs := run(t, "domains", "--log-level", "error"); code != 0 || !strings.Contains(logs, "no VM checked") {
		t.Errorf("vmcheck domains with a default config = exit %d, %q, %q, want 0 from the config's qemu_dir", code, msg, logs)
	}
	if err := os.WriteFile(defaultConfigFile, []byte("qemu_dir: "+empty+"\nconcurrency: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "config " + defaultConfigFile + ": line 2: concurrency: must be between 1 and 1024, got 0"
	if code, msg, _ := run(t, "domains"); code != 3 || msg != want {
		t.Errorf("vmcheck domains with a bad default config = exit %d, %q, want 3, %q", code, msg, want)
	}
	if code, msg, _ := run(t, "domains", "--config", "", "--qemu-dir", empty, "--log-level", "error"); code != 0 {
		t.Errorf("vmcheck domains --config '' = exit %d, %q, want 0: the default file is not read", code, msg)
	}
	if code, msg, _ := run(t, "domains", "--config", filepath.Join(empty, "missing.yml")); code != 3 || !strings.Contains(msg, "missing.yml") {
		t.Errorf("vmcheck domains --config missing.yml = exit %d, %q, want 3 naming the file", code, msg)
	}
}

// TestCronChecksFilesFirst: cron fails before the round, naming the flag
// and the path, when it cannot write its textfile or its state file.
func TestCronChecksFilesFirst(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"textfile directory not writable", []string{"--textfile-dir", "/proc"}, "--textfile-dir: cannot write /proc/vmcheck.prom"},
		{"state file is a directory", []string{"--textfile-dir", dir, "--state-file", stateDir}, "--state-file: " + stateDir + " is a directory"},
		{"state directory not writable", []string{"--textfile-dir", dir, "--state-file", "/proc/vmcheck-state.json"}, "--state-file: cannot write /proc/vmcheck-state.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"cron", "--qemu-dir", t.TempDir()}, tt.args...)
			code, msg, logs := run(t, args...)
			if code != 3 || !strings.HasPrefix(msg, tt.want) || logs != "" {
				t.Errorf("vmcheck %s = exit %d, %q, stderr %q, want exit 3 with %q before any round", strings.Join(args, " "), code, msg, logs, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "vmcheck.prom")); err == nil {
		t.Error("a round ran: the textfile was written")
	}
}

// TestCronFailureInJSON: a round that cannot reach its host is logged in
// the log format, JSON for cron, and exits 3.
func TestCronFailureInJSON(t *testing.T) {
	dir := t.TempDir()
	code, msg, logs := run(t, "cron", "--qemu-dir", filepath.Join(dir, "no-such-dir"), "--textfile-dir", dir)
	if code != 3 || msg != "" || !strings.HasPrefix(logs, `{"error":`) || !strings.Contains(logs, `"msg":"round failed"`) {
		t.Errorf("vmcheck cron against a missing host = exit %d, %q, stderr %q, want exit 3 and one JSON line", code, msg, logs)
	}
}
