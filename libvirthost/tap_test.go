package libvirthost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/checker"
)

// TestTapProblem lays out /sys/class/net in a temporary directory: a tap
// that is up in its bridge, down, out of any bridge, in another bridge, a
// device that is not this NIC's tap (another libvirtd's vnet0) and one that
// does not exist here.
func TestTapProblem(t *testing.T) {
	sys := t.TempDir()
	mk := func(dev, addr, oper, master string) {
		dir := filepath.Join(sys, dev)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"address": addr + "\n", "operstate": oper + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if master != "" {
			if err := os.Symlink("../"+master, filepath.Join(dir, "master")); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("vnet0", "fe:54:00:0c:00:11", "unknown", "vcpub0")
	mk("vnet1", "fe:54:00:0c:00:12", "down", "vcpub0")
	mk("vnet2", "fe:54:00:0c:00:13", "unknown", "")
	mk("vnet3", "fe:54:00:0c:00:14", "unknown", "virbr0")
	mk("vnet4", "fe:54:00:99:99:99", "down", "")
	tests := []struct {
		dev, mac, want string
	}{
		{"vnet0", "52:54:00:0c:00:11", ""},
		{"vnet1", "52:54:00:0c:00:12", "is down"},
		{"vnet2", "52:54:00:0c:00:13", "in no bridge"},
		{"vnet3", "52:54:00:0c:00:14", "in virbr0 on the node, not in vcpub0"},
		{"vnet4", "52:54:00:0c:00:15", ""}, // not this NIC's tap
		{"vnet9", "52:54:00:0c:00:16", ""}, // not here
		{"../etc", "52:54:00:0c:00:17", ""},
	}
	for _, tt := range tests {
		got := tapProblem(sys, checker.NIC{Device: tt.dev, MAC: tt.mac, Bridge: "vcpub0"})
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("tapProblem(%s) = %q, want %q", tt.dev, got, tt.want)
		}
	}
}
