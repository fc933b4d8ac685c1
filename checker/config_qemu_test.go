package checker

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigQEMU(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
qemu_dir: /var/run/qemu-server
pve_config_dir: /etc/pve/qemu-server
qemu_vms:
  - {id: web1, qmp: /run/qemu/web1.qmp, agent: /run/qemu/web1.qga}
  - {id: bare, qmp: /run/qemu/bare.qmp}
`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := []QEMUVM{{ID: "web1", QMP: "/run/qemu/web1.qmp", Agent: "/run/qemu/web1.qga"}, {ID: "bare", QMP: "/run/qemu/bare.qmp"}}
	if cfg.QEMUDir != "/var/run/qemu-server" || cfg.PVEConfigDir != "/etc/pve/qemu-server" || !reflect.DeepEqual(cfg.QEMUVMs, want) || !cfg.QEMU() {
		t.Errorf("ParseConfig = dir %q, pve %q, vms %+v, QEMU() %v", cfg.QEMUDir, cfg.PVEConfigDir, cfg.QEMUVMs, cfg.QEMU())
	}
	if (Config{}).QEMU() || (Config{Connect: "qemu:///system"}).QEMU() {
		t.Error("QEMU() is true without qemu_dir or qemu_vms")
	}
}

func TestParseConfigQEMUErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"both backends", "connect: qemu:///system\nqemu_dir: /var/run/qemu-server", "connect: a libvirt URI and qemu_dir/qemu_vms select different backends"},
		{"both backends, vms", "connect: qemu:///system\nqemu_vms: [{id: a, qmp: /a.qmp}]", "select different backends"},
		{"vm without id", "qemu_vms: [{qmp: /a.qmp}]", "qemu_vms[0].id: missing"},
		{"vm without qmp", "qemu_vms: [{id: a, agent: /a.qga}]", "qemu_vms[0].qmp: missing"},
		{"unknown vm key", "qemu_vms: [{id: a, qmp: /a.qmp, qga: /a.qga}]", `line 1: unknown key "qemu_vms[0].qga"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig(%q) = %v, want an error containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}
