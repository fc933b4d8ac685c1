package checker_test

import (
	"testing"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/qemuhost"
)

// The backends register themselves when imported: this file links both
// into checker's tests, so the engine's tests run with the registry a
// vmcheck binary has.

func TestConfigBackend(t *testing.T) {
	tests := []struct {
		name string
		cfg  checker.Config
		want string
	}{
		{"default", checker.Config{}, libvirthost.Name},
		{"libvirt URI", checker.Config{Connect: "qemu+ssh://node7/system"}, libvirthost.Name},
		{"qemu_dir", checker.Config{QEMUDir: "/var/run/qemu-server"}, qemuhost.Name},
		{"qemu_vms", checker.Config{QEMUVMs: []checker.QEMUVM{{ID: "101", QMP: "/run/qemu/101.qmp"}}}, qemuhost.Name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Backend(); got != tt.want {
				t.Errorf("Backend() = %q, want %q", got, tt.want)
			}
		})
	}
}
