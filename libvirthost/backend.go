package libvirthost

import (
	"fmt"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// Name is the libvirt backend's name in logs and in the backend label of
// vmcheck_source_up.
const Name = "libvirt"

// Backend is the settings.Backend of libvirt hosts, the default one: its
// setting is the libvirt URI (connect, --connect), its Source this
// package's. The package registers it when imported.
type Backend struct{}

func init() { settings.RegisterBackend(Backend{}, true) }

// Settings are the libvirt backend's keys of the config file.
type Settings struct {
	// Connect is the libvirt URI; empty means LIBVIRT_DEFAULT_URI, then
	// qemu:///system.
	Connect string `yaml:"connect"`
}

// Section is the libvirt backend's part of a settings.Config
// (Config.Sections): Section.Of(cfg.Sections) reads its Settings.
var Section = config.Register("libvirt", config.SectionOptions[Settings]{})

// Name implements settings.Backend.
func (Backend) Name() string { return Name }

// Title implements settings.Backend.
func (Backend) Title() string { return "libvirt" }

// Options implements settings.Backend: --connect, the libvirt URI.
func (Backend) Options() []settings.Option {
	return []settings.Option{{Key: "connect", Short: "c", Selects: true,
		Usage: "libvirt `URI` (default: $LIBVIRT_DEFAULT_URI, else qemu:///system)",
		Set:   setConnect}}
}

// setConnect sets cfg's libvirt URI.
func setConnect(cfg *settings.Config, v string) error {
	cfg.Sections = Section.Set(cfg.Sections, Settings{Connect: v})
	return nil
}

// Selected implements settings.Backend: a libvirt URI is set.
func (Backend) Selected(cfg settings.Config) bool { return Section.Of(cfg.Sections).Connect != "" }

// SelectedBy implements settings.Backend.
func (Backend) SelectedBy() (key, what string) { return "connect", "a libvirt URI" }

// Deselect implements settings.Backend.
func (Backend) Deselect(cfg *settings.Config) { _ = setConnect(cfg, "") }

// PolicyConsents implements settings.Backend: a domain consents in its own
// <metadata>, a config rule is no consent (the operator cannot consent
// for a tenant).
func (Backend) PolicyConsents() bool { return false }

// NotOptedIn implements settings.Backend.
func (Backend) NotOptedIn(d model.Domain) string {
	if d.Policy.Error != "" {
		return d.Policy.Error
	}
	return `its metadata has no <vmcheck:check enabled="true"/>`
}

// LinkDownDetail implements settings.Backend.
func (Backend) LinkDownDetail(d model.Domain, n model.NIC) string {
	return fmt.Sprintf("the host has set this NIC's link down (libvirt <link state='down'/>); bring it up: virsh domif-setlink %s %s up", d.Name, n.HostName())
}

// LinkUpCommand implements settings.Backend.
func (Backend) LinkUpCommand(domain, mac string) string {
	return fmt.Sprintf("virsh domif-setlink %s %s up", domain, mac)
}

// unreadWorkers is the limit on agent calls when libvirtd's max_workers
// cannot be read (err says why): settings.DefaultAgentCalls.
func unreadWorkers(err error) settings.AgentLimit {
	n := settings.DefaultAgentCalls
	return settings.AgentLimit{Calls: n, Note: "libvirtd's max_workers unreadable: default limit on agent calls in flight",
		Fields: map[string]any{"agent_calls": n}, Err: err}
}

// AgentCallsFor is the limit on agent calls in flight
// (settings.Config.AgentCalls) for a libvirtd with maxWorkers worker
// threads (max_workers): all but a tenth of them, and at least two, are
// left to libvirtd's other clients (nova-compute, virsh) — beside its
// priority workers, which serve only calls that never wait on a guest. At
// least 1.
func AgentCallsFor(maxWorkers int) int {
	return max(1, maxWorkers-max(2, maxWorkers/10))
}
