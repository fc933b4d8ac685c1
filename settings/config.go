package settings

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/probe"
)

// Defaults for Config fields left unset.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultPingTimeout = 2 * time.Second
	// DefaultConcurrency is how many domains are checked at once: a check
	// spends most of its time waiting for its guest's ping, holding no
	// worker of the hypervisor's daemon (AgentCalls bounds those).
	DefaultConcurrency = 128
	// MaxConcurrency bounds --concurrency.
	MaxConcurrency = 1024
	// DefaultAgentCalls is AgentCalls when the backend cannot derive one
	// from its host (Backend.AgentCalls): what the default backend derives
	// from its daemon's default of 20 workers.
	DefaultAgentCalls = 18
	// MaxAgentCalls bounds --agent-calls.
	MaxAgentCalls = 1024
	// MinListTimeout is the shortest deadline Config.ListTimeout gives
	// connecting to the host and listing its domains, however short the
	// per-domain timeout: a backend may spend seconds on each VM whose
	// control socket hangs and still list it.
	MinListTimeout = 30 * time.Second
)

// Network types an operator can assign to a host network or bridge.
const (
	NetworkExternal = "external"
	NetworkInternal = "internal"
)

// Config is vmcheck's configuration: the YAML file, then flags on top.
// Its yaml-tagged fields are the engine's keys of the config file
// (ParseConfig); a backend's keys are sections of their own, in Sections.
type Config struct {
	// External lists the addresses pinged from inside every guest.
	External []netip.Addr `yaml:"external"`
	// Timeout is the deadline for checking one domain.
	Timeout config.Duration `yaml:"timeout"`
	// PingTimeout is how long the in-guest ping waits for its reply.
	PingTimeout config.Duration `yaml:"ping_timeout"`
	// RetryInterval is how soon serve and cron re-check a domain whose
	// probes failed fewer than --down-after times in a row (zero: their
	// default, --retry-interval).
	RetryInterval config.Duration `yaml:"retry_interval"`
	// Concurrency is how many domains are checked at once.
	Concurrency int `yaml:"concurrency"`
	// AgentCalls is how many guest agent calls may be in flight at once,
	// over every domain (a backend's daemon may hold a worker thread for
	// each). Zero: DefaultAgentCalls (the CLI first has the backend derive
	// it from its host, Backend.AgentCalls).
	AgentCalls int `yaml:"agent_calls"`
	// Domains restricts the check to these names or UUIDs; empty means all
	// running domains.
	Domains []string `yaml:"domains"`
	// Exclude skips domains whose name matches one of these globs.
	Exclude []string `yaml:"exclude"`
	// Networks maps a host network's name (model.NIC.Source: a network or
	// bridge) to its type and, optionally, its gateway.
	Networks map[string]NetworkConfig `yaml:"networks"`
	// Policies are per-domain check policies; the first rule matching a
	// domain applies, and the domain's own metadata (model.Domain.Policy)
	// overrides it.
	Policies []policy.Rule `yaml:"policies"`
	// OptIn checks only the domains that consent to it (see
	// Config.Consents); the others are skipped, not reported.
	OptIn bool `yaml:"opt_in"`
	// Probes, when set (the --probe flag), are every domain's probes,
	// instead of its policy's; at most probe.MaxProbes.
	Probes []probe.Spec `yaml:"-"`
	// NICs is the operator's word on single NICs, keyed by MAC in
	// guestagent.NormalMAC form: the addresses assigned to each and its
	// gateways (see Config.NICFacts).
	NICs NICsByMAC `yaml:"nics"`
	// Sections are the config's sections that packages outside the engine
	// registered (config.Register): each package reads its own. A
	// backend's settings are its section; they select the backend (Host).
	Sections config.Values `yaml:"-"`
}

// NICConfig is the operator's word on one NIC: the config file's
// nics.<mac> entry.
type NICConfig struct {
	// Addresses are the addresses assigned to the NIC, at most
	// MaxExpectedAddrs.
	Addresses []netip.Addr `yaml:"addresses"`
	// Gateways are the NIC's gateways, at most MaxExpectedAddrs.
	Gateways []netip.Addr `yaml:"gateways"`
}

// NICFacts returns what the config file says of the NIC whose MAC is mac
// (in any spelling guestagent.NormalMAC accepts): the addresses assigned
// to it and its gateways, each with Source "config", valid and at most
// MaxExpectedAddrs of each (AppendExpected). Both are nil when the file
// says nothing of that MAC or mac is not a MAC. The slices are the
// caller's to keep or append to.
func (c Config) NICFacts(mac string) (expected, gateways []model.ExpectedAddr) {
	m, ok := guestagent.NormalMAC(mac)
	if !ok {
		return nil, nil
	}
	n, ok := c.NICs[m]
	if !ok {
		return nil, nil
	}
	for _, a := range n.Addresses {
		expected = model.AppendExpected(expected, a, "config")
	}
	for _, a := range n.Gateways {
		gateways = model.AppendExpected(gateways, a, "config")
	}
	return expected, gateways
}

// NetworkConfig is the operator's word on one host network or bridge
// (model.NIC.Source or model.NIC.Bridge).
type NetworkConfig struct {
	// Type is "external" or "internal"; empty leaves it to the default route.
	Type string `yaml:"type"`
	// Gateway overrides every other way of learning the gateway.
	Gateway *netip.Addr `yaml:"gateway"`
}

// WithDefaults returns cfg with unset fields filled in.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = config.Duration(DefaultPingTimeout)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.AgentCalls == 0 {
		c.AgentCalls = DefaultAgentCalls
	}
	c.Sections = c.Sections.WithDefaults()
	return c
}

// ListTimeout is the deadline for connecting to the host and for listing
// its domains: the per-domain Timeout, but at least MinListTimeout. A hung
// hypervisor daemon or socket thus fails the listing instead of hanging
// vmcheck.
func (c Config) ListTimeout() time.Duration {
	return max(time.Duration(c.Timeout), MinListTimeout)
}

// CheckContext returns ctx bounded by the deadline for checking one
// domain, Timeout: CheckAll, DiscoverAll and the serve scheduler put every
// check under it.
func (c Config) CheckContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(c.Timeout))
}

// Consents reports whether, in opt-in mode, the domain has agreed to be
// checked. meta is the domain's own policy from its metadata
// (model.Domain.Policy as the Source reports it, before Config.PolicyFor):
// consent is enabled true there. A config rule does not count where VMs
// carry metadata of their own — the operator cannot consent for a tenant,
// and a rule matching "*" would make opt-in meaningless. On a backend
// whose VMs carry none (Backend.PolicyConsents), the first config rule
// matching the VM counts when it says enabled: true.
func (c Config) Consents(name, uuid string, meta policy.Policy) bool {
	if meta.Enables() {
		return true
	}
	if b := c.Host(); b == nil || !b.PolicyConsents() {
		return false
	}
	for _, r := range c.Policies {
		if r.Matches(name, uuid) {
			return r.Policy().Enables()
		}
	}
	return false
}

// Validate reports the first invalid value as a *config.FieldError naming
// its key path; the --probe flag's probes are named as such.
func (c Config) Validate() error {
	for i, a := range c.External {
		if err := osdetect.ValidateOperatorTarget(a); err != nil {
			return &config.FieldError{Key: fmt.Sprintf("external[%d]", i), Err: err}
		}
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	for _, g := range c.Exclude {
		if _, err := path.Match(g, ""); err != nil {
			return config.Errorf("exclude", "pattern %q: %w", g, err)
		}
	}
	if err := policy.ValidateRules(c.Policies); err != nil {
		return err
	}
	if err := c.validateBackend(); err != nil {
		return err
	}
	if err := policy.ValidateProbes(c.Probes); err != nil {
		return fmt.Errorf("--probe: %w", err)
	}
	if err := validateNICs(c.NICs); err != nil {
		return err
	}
	if err := validateNetworks(c.Networks); err != nil {
		return err
	}
	return c.Sections.Validate()
}

// validateLimits checks the timeouts and the limits on concurrency.
func (c Config) validateLimits() error {
	for _, d := range []struct {
		key string
		d   config.Duration
	}{{"timeout", c.Timeout}, {"retry_interval", c.RetryInterval}, {"ping_timeout", c.PingTimeout}} {
		if d.d < 0 {
			return config.Errorf(d.key, "must be positive, got %s", time.Duration(d.d))
		}
	}
	if c.PingTimeout > 0 && c.PingTimeout%config.Duration(time.Millisecond) != 0 {
		return config.Errorf("ping_timeout", "%s is finer than a millisecond", time.Duration(c.PingTimeout))
	}
	if c.Timeout > 0 && c.PingTimeout > 0 && 2*c.PingTimeout > c.Timeout {
		return &config.FieldError{Key: "ping_timeout", Related: "timeout", Err: fmt.Errorf(
			"%s must be at most half of the timeout (%s), so the ping ends well inside the check's deadline",
			time.Duration(c.PingTimeout), time.Duration(c.Timeout))}
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		return config.Errorf("concurrency", "must be between 1 and %d, got %d", MaxConcurrency, c.Concurrency)
	}
	if c.AgentCalls < 0 || c.AgentCalls > MaxAgentCalls {
		return config.Errorf("agent_calls", "must be between 1 and %d, got %d", MaxAgentCalls, c.AgentCalls)
	}
	return nil
}

// validateNetworks checks the type and gateway of each network.
func validateNetworks(networks map[string]NetworkConfig) error {
	for _, name := range slices.Sorted(maps.Keys(networks)) {
		n := networks[name]
		switch n.Type {
		case "", NetworkExternal, NetworkInternal:
		default:
			return config.Errorf("networks."+name+".type", "%q is not %q or %q", n.Type, NetworkExternal, NetworkInternal)
		}
		if n.Gateway != nil {
			if err := osdetect.ValidateOperatorTarget(*n.Gateway); err != nil {
				return &config.FieldError{Key: "networks." + name + ".gateway", Err: err}
			}
		}
	}
	return nil
}

// validateNICs reports the first invalid entry of Config.NICs, in MAC
// order: a key not in NormalMAC form, more than MaxExpectedAddrs addresses
// or gateways, or one ValidateExpected rejects.
func validateNICs(nics NICsByMAC) error {
	for _, mac := range slices.Sorted(maps.Keys(nics)) {
		if m, ok := guestagent.NormalMAC(mac); !ok || m != mac {
			return config.Errorf("nics", "%q is not a MAC address in lower-case colon form", mac)
		}
		n := nics[mac]
		for _, kl := range []struct {
			key  string
			list []netip.Addr
		}{{"addresses", n.Addresses}, {"gateways", n.Gateways}} {
			key := "nics." + mac + "." + kl.key
			if len(kl.list) > model.MaxExpectedAddrs {
				return config.Errorf(key, "%d addresses, at most %d allowed", len(kl.list), model.MaxExpectedAddrs)
			}
			for i, a := range kl.list {
				if err := model.ValidateExpected(a); err != nil {
					return &config.FieldError{Key: fmt.Sprintf("%s[%d]", key, i), Err: err}
				}
			}
		}
	}
	return nil
}

// Selected reports whether a domain passes the include list and exclude globs.
func (c Config) Selected(name, uuid string) bool {
	if len(c.Domains) > 0 {
		found := false
		for _, d := range c.Domains {
			if d == name || d == uuid {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, g := range c.Exclude {
		if ok, _ := path.Match(g, name); ok {
			return false
		}
	}
	return true
}

// PolicyFor returns the effective policy of a domain: the first matching
// config rule, with meta (the domain's own metadata policy) laid over it.
//
// The --probe flag's probes (Config.Probes) replace the policy's.
func (c Config) PolicyFor(name, uuid string, meta policy.Policy) policy.Policy {
	p := meta.Over(policy.Policy{})
	for _, r := range c.Policies {
		if r.Matches(name, uuid) {
			p = meta.Over(r.Policy())
			break
		}
	}
	if len(c.Probes) > 0 {
		p.Probes = c.Probes
	}
	return p
}
