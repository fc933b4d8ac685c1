package settings_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/qemuhost"
	"github.com/vmcheck/vmcheck/settings"
)

// The backends register themselves when imported: this file links both
// into these tests, so they run with the registry (and
// the config sections) a vmcheck binary has.

// libvirtURI is a config whose libvirt section sets the URI.
func libvirtURI(uri string) settings.Config {
	return settings.Config{Sections: libvirthost.Section.Set(settings.Config{}.Sections, libvirthost.Settings{Connect: uri})}
}

// qemu is a config whose QEMU section is s.
func qemu(s qemuhost.Settings) settings.Config {
	return settings.Config{Sections: qemuhost.Section.Set(settings.Config{}.Sections, s)}
}

func TestConfigBackend(t *testing.T) {
	tests := []struct {
		name string
		cfg  settings.Config
		want string
	}{
		{"default", settings.Config{}, libvirthost.Name},
		{"libvirt URI", libvirtURI("qemu+ssh://node7/system"), libvirthost.Name},
		{"qemu_dir", qemu(qemuhost.Settings{Dir: "/var/run/qemu-server"}), qemuhost.Name},
		{"qemu_vms", qemu(qemuhost.Settings{VMs: []qemuhost.VM{{ID: "101", QMP: "/run/qemu/101.qmp"}}}), qemuhost.Name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Backend(); got != tt.want {
				t.Errorf("Backend() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseConfigQEMU(t *testing.T) {
	cfg, err := settings.ParseConfig([]byte(`
qemu_dir: /var/run/qemu-server
pve_config_dir: /etc/pve/qemu-server
qemu_vms:
  - {id: web1, qmp: /run/qemu/web1.qmp, agent: /run/qemu/web1.qga}
  - {id: bare, qmp: /run/qemu/bare.qmp}
`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := []qemuhost.VM{{ID: "web1", QMP: "/run/qemu/web1.qmp", Agent: "/run/qemu/web1.qga"}, {ID: "bare", QMP: "/run/qemu/bare.qmp"}}
	s := qemuhost.Section.Of(cfg.Sections)
	if s.Dir != "/var/run/qemu-server" || s.PVEConfigDir != "/etc/pve/qemu-server" || !reflect.DeepEqual(s.VMs, want) || cfg.Backend() != qemuhost.Name {
		t.Errorf("ParseConfig = dir %q, pve %q, vms %+v, backend %q", s.Dir, s.PVEConfigDir, s.VMs, cfg.Backend())
	}
	if (settings.Config{}).Backend() == qemuhost.Name || libvirtURI("qemu:///system").Backend() == qemuhost.Name {
		t.Error("the QEMU backend is selected without qemu_dir or qemu_vms")
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
			_, err := settings.ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig(%q) = %v, want an error containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}

func TestConsents(t *testing.T) {
	yes, no := true, false
	rules := []policy.Rule{
		{Match: "web-*", Enabled: &yes},
		{Match: "db-1", Enabled: &no},
		{Match: "db-*", Interval: config.Duration(time.Minute)},
	}
	tests := []struct {
		name string
		cfg  settings.Config
		dom  string
		meta policy.Policy
		want bool
	}{
		{"libvirt: metadata enabled true", settings.Config{}, "x", policy.Policy{Enabled: &yes}, true},
		{"libvirt: metadata enabled false", settings.Config{}, "x", policy.Policy{Enabled: &no}, false},
		{"libvirt: metadata without enabled", settings.Config{}, "x", policy.Policy{Interval: time.Minute}, false},
		{"libvirt: no metadata", settings.Config{}, "x", policy.Policy{}, false},
		{"libvirt: invalid metadata", settings.Config{}, "x", policy.Policy{Error: "vmcheck metadata ignored: enabled: \"yes\" is not true or false"}, false},
		{"libvirt: a config rule is not consent", settings.Config{Policies: rules}, "web-1", policy.Policy{}, false},
		{"libvirt: metadata wins over a rule", settings.Config{Policies: rules}, "db-1", policy.Policy{Enabled: &yes}, true},
		{"qemu: rule enabled true", withRules(qemu(qemuhost.Settings{Dir: "/run/qemu-server"}), rules), "web-1", policy.Policy{}, true},
		{"qemu: rule enabled false", withRules(qemu(qemuhost.Settings{Dir: "/run/qemu-server"}), rules), "db-1", policy.Policy{}, false},
		{"qemu: first matching rule says nothing", withRules(qemu(qemuhost.Settings{Dir: "/run/qemu-server"}), rules), "db-2", policy.Policy{}, false},
		{"qemu: no rule matches", withRules(qemu(qemuhost.Settings{Dir: "/run/qemu-server"}), rules), "mail", policy.Policy{}, false},
		{"qemu_vms: rule enabled true", withRules(qemu(qemuhost.Settings{VMs: []qemuhost.VM{{ID: "web-1", QMP: "/q"}}}), rules), "web-1", policy.Policy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Consents(tt.dom, "uuid-"+tt.dom, tt.meta); got != tt.want {
				t.Errorf("Consents(%q, %+v) = %v, want %v", tt.dom, tt.meta, got, tt.want)
			}
		})
	}
}

// withRules is cfg with the policies rules.
func withRules(cfg settings.Config, rules []policy.Rule) settings.Config {
	cfg.Policies = rules
	return cfg
}

// named is a backend that behaves as libvirt's under another name.
type named struct {
	libvirthost.Backend
	name string
}

func (n named) Name() string { return n.name }

// TestRegisterBackendTwice: a name registered twice, or a second default,
// is a programming error RegisterBackend refuses at init.
func TestRegisterBackendTwice(t *testing.T) {
	for _, tt := range []struct {
		name      string
		b         settings.Backend
		asDefault bool
	}{
		{"same name", named{name: libvirthost.Name}, false},
		{"second default", named{name: "another"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterBackend(%q, %v) did not panic", tt.b.Name(), tt.asDefault)
				}
			}()
			settings.RegisterBackend(tt.b, tt.asDefault)
		})
	}
	if got := len(settings.Backends()); got != 2 {
		t.Errorf("%d backends registered after the refused ones, want 2", got)
	}
}
