package checker

import "testing"

func TestConfigBackend(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default", Config{}, BackendLibvirt},
		{"libvirt URI", Config{Connect: "qemu+ssh://node7/system"}, BackendLibvirt},
		{"qemu_dir", Config{QEMUDir: "/var/run/qemu-server"}, BackendQEMU},
		{"qemu_vms", Config{QEMUVMs: []QEMUVM{{ID: "101", QMP: "/run/qemu/101.qmp"}}}, BackendQEMU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Backend(); got != tt.want {
				t.Errorf("Backend() = %q, want %q", got, tt.want)
			}
		})
	}
}
