//go:build cgo

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/libvirthost/domainxml"
)

// setTestMetadata sets vmcheck metadata on the test driver's domain, as an
// operator would with virsh metadata, until the test ends. The driver's
// state is shared by the connections of this process and lives as long as
// one of them is open, so this one stays open until then.
func setTestMetadata(t *testing.T, xml string) {
	t.Helper()
	conn, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Close() })
	dom, err := conn.LookupDomainByName("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, "", "", domainxml.MetadataNamespace, libvirt.DOMAIN_AFFECT_LIVE)
		_ = dom.Free()
	})
	if xml == "" {
		return
	}
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, xml, "vmcheck", domainxml.MetadataNamespace, libvirt.DOMAIN_AFFECT_LIVE); err != nil {
		t.Fatal(err)
	}
}

// TestCronOptIn runs cron against the test driver's one domain, which has
// no agent channel: checked, it is unknown (exit 1); skipped, the run is
// clean (exit 0) and the textfile holds no series for it.
func TestCronOptIn(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "vmcheck.yml")
	if err := os.WriteFile(cfgFile, []byte("opt_in: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		metadata string
		args     []string
		checked  bool
	}{
		{"flag, no metadata", "", []string{"--opt-in"}, false},
		{"config, no metadata", "", []string{"--config", cfgFile}, false},
		{"flag, metadata without enabled", `<check interval="5m"/>`, []string{"--opt-in"}, false},
		{"flag, invalid metadata", `<check enabled="yes"/>`, []string{"--opt-in"}, false},
		{"flag, metadata enabled", `<check enabled="true"/>`, []string{"--opt-in"}, true},
		{"config, metadata enabled", `<check enabled="true"/>`, []string{"--config", cfgFile}, true},
		{"flag overrides config", "", []string{"--config", cfgFile, "--opt-in=false"}, true},
		{"off, no metadata", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setTestMetadata(t, tt.metadata)
			dir := t.TempDir()
			args := append([]string{"-c", "test:///default", "--textfile-dir", dir, "--log-level", "error"}, tt.args...)
			code := runApp(context.Background(), t, cronCommand(), args...)
			got := readTextfile(t, filepath.Join(dir, "vmcheck.prom"))
			checked := strings.Contains(got, `domain="test"`)
			if checked != tt.checked {
				t.Fatalf("vmcheck cron %v: domain checked = %v, want %v:\n%s", tt.args, checked, tt.checked, got)
			}
			wantCode := 0
			if tt.checked {
				wantCode = 1 // no agent channel: unknown
			}
			if code != wantCode {
				t.Errorf("vmcheck cron %v: exit %d, want %d", tt.args, code, wantCode)
			}
		})
	}
}
