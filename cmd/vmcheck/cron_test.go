//go:build cgo

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/urfave/cli/v2"
	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/libvirthost/domainxml"
)

// runApp runs one vmcheck command in-process and returns its exit code.
func runApp(ctx context.Context, t *testing.T, cmd *cli.Command, args ...string) int {
	t.Helper()
	app := &cli.App{Name: "vmcheck", Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
	err := app.RunContext(ctx, append([]string{"vmcheck", cmd.Name}, args...))
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	t.Fatalf("vmcheck %s: %v", cmd.Name, err)
	return -1
}

func readTextfile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p expfmt.TextParser
	if _, err := p.TextToMetricFamilies(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return string(b)
}

// libvirt's test driver has one running domain, "test", without an agent
// channel: vmcheck reports it unknown (exit 1).
func TestCronTestDriver(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	for run := 1; run <= 2; run++ {
		code := runApp(context.Background(), t, cronCommand(), "-c", "test:///default", "--external", "203.0.113.10",
			"--textfile-dir", dir, "--state-file", state, "--log-level", "error")
		if code != 1 {
			t.Errorf("run %d: exit %d, want 1 (a VM could not be checked)", run, code)
		}
	}
	got := readTextfile(t, filepath.Join(dir, "vmcheck.prom"))
	for _, want := range []string{
		`vmcheck_domain_state{domain="test",state="unknown",uuid="6695eb01-f6a4-8304-79aa-97f2502e193f"} 1`,
		`vmcheck_agent_up{domain="test",uuid="6695eb01-f6a4-8304-79aa-97f2502e193f"} 0`,
		"vmcheck_libvirt_up 1", "vmcheck_round_domains 1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("textfile lacks %q", want)
		}
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the textfile directory, want vmcheck.prom and the state file", len(entries))
	}
}

func TestCronLibvirtDown(t *testing.T) {
	dir := t.TempDir()
	code := runApp(context.Background(), t, cronCommand(), "-c", "qemu+unix:///system?socket="+filepath.Join(dir, "no-such-socket"),
		"--textfile-dir", dir, "--log-level", "error")
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	got := readTextfile(t, filepath.Join(dir, "vmcheck.prom"))
	if !strings.Contains(got, "vmcheck_libvirt_up 0") || strings.Contains(got, "vmcheck_domain_state") {
		t.Errorf("with libvirt down the textfile must say vmcheck_libvirt_up 0 and hold no VM:\n%s", got)
	}
}

func TestCronUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--textfile-dir", filepath.Join(dir, "missing")},
		{"--textfile-dir", dir, "--textfile-name", "vmcheck.txt"},
		{"--textfile-dir", dir, "--down-after", "0"},
	} {
		if code := runApp(context.Background(), t, cronCommand(), append([]string{"-c", "test:///default"}, args...)...); code != 3 {
			t.Errorf("vmcheck cron %v: exit %d, want 3", args, code)
		}
	}
}

// TestCronMetadataDisabled sets vmcheck metadata on the test driver's
// domain (shared by every connection of this process), as an operator
// would with virsh metadata, and checks that cron skips the VM.
func TestCronMetadataDisabled(t *testing.T) {
	conn, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dom, err := conn.LookupDomainByName("test")
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, `<check enabled="false"/>`, "vmcheck", domainxml.MetadataNamespace, libvirt.DOMAIN_AFFECT_LIVE); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, "", "", domainxml.MetadataNamespace, libvirt.DOMAIN_AFFECT_LIVE)
	}()
	dir := t.TempDir()
	if code := runApp(context.Background(), t, cronCommand(), "-c", "test:///default", "--textfile-dir", dir, "--log-level", "error"); code != 0 {
		t.Errorf("exit %d, want 0 (the only VM is disabled)", code)
	}
	got := readTextfile(t, filepath.Join(dir, "vmcheck.prom"))
	if strings.Contains(got, `domain="test"`) || !strings.Contains(got, "vmcheck_round_domains 0") {
		t.Errorf("a VM with enabled=\"false\" metadata was checked:\n%s", got)
	}
}
