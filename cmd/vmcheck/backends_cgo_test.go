//go:build cgo

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackendFlagOverFile: a backend's flag picks its backend over the one
// the config file picks: the file's qemu_dir names a directory without VMs,
// --connect libvirt's test driver, whose one running domain is then
// listed (no "no VM checked" note).
func TestBackendFlagOverFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vmcheck.yml")
	if err := os.WriteFile(cfg, []byte("qemu_dir: "+t.TempDir()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const none = "no VM checked"
	if code, msg, logs := run(t, "domains", "--config", cfg, "-o", "json"); code != 0 || !strings.Contains(logs, none) {
		t.Fatalf("domains with the file's qemu_dir: exit %d, %q, stderr %q; want 0 and %q", code, msg, logs, none)
	}
	if code, msg, logs := run(t, "domains", "--config", cfg, "--connect", "test:///default", "-o", "json"); code != 0 || strings.Contains(logs, none) {
		t.Errorf("domains --connect over the file's qemu_dir: exit %d, %q, stderr %q; want 0 and the test driver's domain", code, msg, logs)
	}
}
