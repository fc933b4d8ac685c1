package settings

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
)

// Backend is one way vmcheck reaches a host's VMs, as its own package
// registers it from its init (RegisterBackend): its settings (config keys and the flags of the
// same name), its listing and agent transport (Open), its remedies and its
// skip reasons. The engine, the output and the CLI know a backend only
// through it; a Backend holds no state of its own, its settings are in the
// Config.
type Backend interface {
	// Name names the backend in logs and in the backend label of
	// vmcheck_source_up: one lower-case word.
	Name() string
	// Title says what the backend reaches, in a few words, for an error
	// naming two backends.
	Title() string
	// Options are the backend's settings the command line sets, each a
	// flag named after its config key.
	Options() []Option
	// Selected reports whether cfg's settings pick this backend (a
	// hypervisor URI, a socket directory: its section's keys).
	Selected(cfg Config) bool
	// SelectedBy names the settings that pick the backend, for the error
	// of a config picking two: the key the error is reported under, and
	// what the settings are (a key, and "a ... URI").
	SelectedBy() (key, what string)
	// Deselect clears the settings of cfg that pick this backend: a flag
	// picking another backend overrides the config file's.
	Deselect(cfg *Config)
	// Open connects to the host cfg names (or prepares to: nothing may be
	// dialled before the first listing), within cfg.ListTimeout.
	Open(ctx context.Context, cfg Config) (Conn, error)
	// AgentCalls derives the limit on guest agent calls in flight from the
	// host, for a config that sets none (Config.AgentCalls zero).
	AgentCalls(ctx context.Context, cfg Config) AgentLimit
	// PolicyConsents reports whether, in opt-in mode, a config policy with
	// enabled: true counts as a VM's consent: true for a backend whose VMs
	// carry no vmcheck metadata of their own (Config.Consents).
	PolicyConsents() bool
	// NotOptedIn says why opt-in mode skipped d.
	NotOptedIn(d model.Domain) string
	// LinkDownDetail is the detail of host_link_down for n of d: the
	// evidence and how to bring the link up on this backend.
	LinkDownDetail(d model.Domain, n model.NIC) string
	// LinkUpCommand is how to bring the link of the NIC mac of the VM
	// domain up on this backend, in a few words (the command an operator
	// types); the plain text of host_link_down lists
	// every registered backend's (LinkUpCommands).
	LinkUpCommand(domain, mac string) string
}

// EventLoop is a Backend whose event reports need a process-wide event
// loop started before its first connection.
type EventLoop interface {
	// StartEvents starts the loop, once however often it is called.
	StartEvents() error
}

// Conn is one open connection to a host: it lists domains, reports their
// lifecycle events, and is closed when it breaks.
type Conn interface {
	model.Source
	// Watch calls fn for each domain or agent lifecycle event until ctx
	// ends (nil) or the connection breaks (an error). fn must not block.
	Watch(ctx context.Context, fn func(model.Event)) error
	Close() error
}

// Option is one setting of a backend that both the config file (Key) and
// the command line set: the flag is Key with dashes for underscores
// ("some_dir": --some-dir).
type Option struct {
	// Key is the config file key the option sets too.
	Key string
	// Short is a one-letter alias of the flag, if any.
	Short string
	// Usage is the flag's help text, the value's name in backquotes
	// ("`DIR`").
	Usage string
	// Selects says that setting the option picks its backend over the
	// config file's (whose settings the CLI clears, Backend.Deselect).
	Selects bool
	// Set lays the value over cfg; its error says what is wrong with the
	// value, without naming the flag.
	Set func(cfg *Config, value string) error
}

// FlagName is the command-line flag of the option: its key with dashes.
func (o Option) FlagName() string { return strings.ReplaceAll(o.Key, "_", "-") }

// AgentLimit is a limit on agent calls in flight derived from the host
// (Backend.AgentCalls), with a note for the debug log on how.
type AgentLimit struct {
	// Calls is the limit, at least 1.
	Calls int
	// Note says how the limit was derived, for the debug log; "" for
	// nothing to log.
	Note string
	// Fields are the log fields of the note.
	Fields map[string]any
	// Err is why the host could not tell, logged with the note.
	Err error
}

var registry struct {
	sync.Mutex
	backends []Backend // by Name
	def      Backend
}

// RegisterBackend adds b to the backends a config may select; a backend's
// package calls it from its init, so that importing the package is what
// makes the backend available. asDefault makes b the backend of a config
// whose settings select none. It panics on a second backend of
// the same name, or a second default.
func RegisterBackend(b Backend, asDefault bool) {
	registry.Lock()
	defer registry.Unlock()
	if slices.ContainsFunc(registry.backends, func(o Backend) bool { return o.Name() == b.Name() }) {
		panic("settings: backend " + b.Name() + " registered twice")
	}
	if asDefault && registry.def != nil {
		panic("settings: two default backends, " + registry.def.Name() + " and " + b.Name())
	}
	if asDefault {
		registry.def = b
	}
	registry.backends = append(registry.backends, b)
	slices.SortFunc(registry.backends, func(x, y Backend) int { return strings.Compare(x.Name(), y.Name()) })
}

// Backends returns the registered backends, by name.
func Backends() []Backend {
	registry.Lock()
	defer registry.Unlock()
	return slices.Clone(registry.backends)
}

// Host returns the backend the config selects: the one its settings pick
// (Backend.Selected; Validate rejects a config picking two), else the
// default one. It is nil only when no backend is registered.
func (c Config) Host() Backend {
	if sel := selectedBackends(c); len(sel) > 0 {
		return sel[0]
	}
	registry.Lock()
	defer registry.Unlock()
	return registry.def
}

// Backend names the backend the config selects (Host), as logs and the
// backend label of vmcheck_source_up name it; "" when none is registered.
func (c Config) Backend() string {
	if b := c.Host(); b != nil {
		return b.Name()
	}
	return ""
}

// LinkUpCommands lists how to bring the link of the NIC mac of the VM
// domain up on every registered backend (Backend.LinkUpCommand), for the
// plain text of host_link_down.
func LinkUpCommands(domain, mac string) []string {
	var out []string
	for _, b := range Backends() {
		out = append(out, b.LinkUpCommand(domain, mac))
	}
	return out
}

// selectedBackends are the registered backends cfg's settings pick.
func selectedBackends(cfg Config) []Backend {
	var out []Backend
	for _, b := range Backends() {
		if b.Selected(cfg) {
			out = append(out, b)
		}
	}
	return out
}

// validateBackend rejects a config whose settings select two backends
// (the error names the first one's key: "KEY: WHAT and OTHER select
// different backends; set one of them", from each one's SelectedBy).
func (c Config) validateBackend() error {
	sel := selectedBackends(c)
	if len(sel) < 2 {
		return nil
	}
	key, what := sel[0].SelectedBy()
	_, other := sel[1].SelectedBy()
	return config.Errorf(key, "%s and %s select different backends; set one of them", what, other)
}
