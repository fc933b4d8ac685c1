package qemuhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// Name is the QEMU backend's name in logs and in the backend label of
// vmcheck_source_up.
const Name = "qemu"

// Backend is the settings.Backend of hosts running QEMU without libvirt,
// Proxmox VE included: its settings are the socket directory (qemu_dir,
// --qemu-dir), the socket pairs (qemu_vms) and the Proxmox VE configs
// (pve_config_dir, --pve-config-dir), its Source this package's. The
// package registers it when imported.
type Backend struct{}

var _ settings.Conn = (*Source)(nil)

func init() { settings.RegisterBackend(Backend{}, false) }

// Settings are the QEMU backend's keys of the config file.
type Settings struct {
	// Dir selects the backend: a directory of <id>.qmp and <id>.qga
	// sockets (Proxmox VE: DefaultDir). Empty, with no VMs, means another
	// backend.
	Dir string `yaml:"qemu_dir"`
	// VMs lists QMP and agent socket pairs, in addition to those found in
	// Dir.
	VMs []VM `yaml:"qemu_vms"`
	// PVEConfigDir holds the Proxmox VE VM configs <id>.conf the backend
	// reads NICs and bridges from; empty means DefaultPVEConfigDir.
	PVEConfigDir string `yaml:"pve_config_dir"`
}

// Section is the QEMU backend's part of a settings.Config
// (Config.Sections): Section.Of(cfg.Sections) reads its Settings.
var Section = config.Register("qemu", config.SectionOptions[Settings]{Validate: Settings.validate})

// validate reports the first qemu_vms entry without an id or a QMP socket.
func (s Settings) validate(config.Values) error {
	for i, vm := range s.VMs {
		switch {
		case vm.ID == "":
			return config.Errorf(fmt.Sprintf("qemu_vms[%d].id", i), "missing")
		case vm.QMP == "":
			return config.Errorf(fmt.Sprintf("qemu_vms[%d].qmp", i), "missing (the path of the VM's QMP socket)")
		}
	}
	return nil
}

// set lays change over cfg's Settings.
func set(cfg *settings.Config, change func(*Settings)) {
	s := Section.Of(cfg.Sections)
	change(&s)
	cfg.Sections = Section.Set(cfg.Sections, s)
}

// Name implements settings.Backend.
func (Backend) Name() string { return Name }

// Title implements settings.Backend.
func (Backend) Title() string { return "QEMU without libvirt" }

// Options implements settings.Backend: --qemu-dir and --pve-config-dir.
func (Backend) Options() []settings.Option {
	return []settings.Option{
		{Key: "qemu_dir", Selects: true,
			Usage: "no libvirt: check the QEMU VMs whose <id>.qmp and <id>.qga sockets are in `DIR` (Proxmox VE: " + DefaultDir + ")",
			Set: func(cfg *settings.Config, v string) error {
				if v == "" {
					return errors.New("empty directory")
				}
				set(cfg, func(s *Settings) { s.Dir = v })
				return nil
			}},
		{Key: "pve_config_dir",
			Usage: "with --qemu-dir: Proxmox VE VM configs <id>.conf in `DIR` (default " + DefaultPVEConfigDir + ")",
			Set: func(cfg *settings.Config, v string) error {
				set(cfg, func(s *Settings) { s.PVEConfigDir = v })
				return nil
			}},
	}
}

// Selected implements settings.Backend: the config names QEMU sockets.
func (Backend) Selected(cfg settings.Config) bool {
	s := Section.Of(cfg.Sections)
	return s.Dir != "" || len(s.VMs) > 0
}

// SelectedBy implements settings.Backend.
func (Backend) SelectedBy() (key, what string) { return "qemu_dir", "qemu_dir/qemu_vms" }

// Deselect implements settings.Backend.
func (Backend) Deselect(cfg *settings.Config) {
	set(cfg, func(s *Settings) { s.Dir, s.VMs = "", nil })
}

// Open implements settings.Backend: a Source of the config's sockets,
// which connects to nothing before its first listing.
func (Backend) Open(_ context.Context, cfg settings.Config) (settings.Conn, error) {
	s := Section.Of(cfg.Sections)
	src, err := New(Options{Dir: s.Dir, VMs: s.VMs, PVEConfigDir: s.PVEConfigDir, Concurrency: cfg.Concurrency})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// AgentCalls implements settings.Backend: each VM's agent socket is its
// own, so only the one-call-per-VM rule applies: as many as domains are
// checked at once.
func (Backend) AgentCalls(_ context.Context, cfg settings.Config) settings.AgentLimit {
	return settings.AgentLimit{Calls: max(cfg.Concurrency, settings.DefaultConcurrency)}
}

// PolicyConsents implements settings.Backend: QEMU VMs carry no vmcheck
// metadata, so a config rule with enabled: true is their consent.
func (Backend) PolicyConsents() bool { return true }

// NotOptedIn implements settings.Backend.
func (Backend) NotOptedIn(model.Domain) string {
	return "no config policy with enabled: true matches it"
}

// LinkDownDetail implements settings.Backend.
func (Backend) LinkDownDetail(_ model.Domain, n model.NIC) string {
	return fmt.Sprintf("the host has set this NIC's link down (Proxmox VE link_down=1, or QMP set_link); bring it up: qm set VMID --netN …,link_down=0 on Proxmox VE, or QMP set_link with up=true for %s", n.HostName())
}

// LinkUpCommand implements settings.Backend.
func (Backend) LinkUpCommand(string, string) string { return "without libvirt: QMP set_link up=true" }
