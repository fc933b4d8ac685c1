package checker

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe"
)

// Bounds on a per-domain check interval and retry interval.
const (
	MinPolicyInterval = 5 * time.Second
	MaxPolicyInterval = 24 * time.Hour
)

// MaxPolicyTargets bounds the extra targets of one domain: each is one
// guest-exec per round and one metric series.
const MaxPolicyTargets = 8

// Policy is the per-domain check policy: from a config rule, then from the
// domain's own metadata on top (libvirt: its <metadata>, parsed by package
// libvirthost). The zero Policy changes nothing.
type Policy struct {
	// Enabled is nil when unset; false excludes the domain from every
	// command, as --exclude would.
	Enabled *bool
	// Interval is how often `vmcheck serve` checks the domain; zero means
	// the --interval flag.
	Interval time.Duration
	// RetryInterval is how soon serve and cron re-check the domain while
	// it is in a soft state (its probes failed fewer than --down-after
	// times in a row); zero means the --retry-interval flag.
	RetryInterval time.Duration
	// Targets are extra addresses pinged from inside this guest, on top of
	// the configured external targets, reported as external probes.
	Targets []netip.Addr
	// Probes are the detection methods of this guest (package probe), at
	// most probe.MaxProbes; empty means one icmp echo to each gateway and
	// external target. An icmp spec replaces that default echo.
	Probes []probe.Spec
	// Alert is whom to tell when the domain fails, and how; its empty
	// fields are unset (see EffectiveAlert for the defaults).
	Alert AlertPolicy
	// Error says why the domain's vmcheck metadata was ignored, when it was
	// invalid. It is empty otherwise.
	Error string
}

// Disabled reports whether the policy turns checking off.
func (p Policy) Disabled() bool { return p.Enabled != nil && !*p.Enabled }

// Enables reports whether the policy explicitly turns checking on: the
// consent opt-in mode asks for.
func (p Policy) Enables() bool { return p.Enabled != nil && *p.Enabled }

// Over returns p laid over base: p's set fields win, targets add up.
func (p Policy) Over(base Policy) Policy {
	out := base
	if p.Enabled != nil {
		out.Enabled = p.Enabled
	}
	if p.Interval != 0 {
		out.Interval = p.Interval
	}
	if p.RetryInterval != 0 {
		out.RetryInterval = p.RetryInterval
	}
	if len(p.Probes) > 0 {
		out.Probes = p.Probes
	}
	out.Alert = p.Alert.Over(base.Alert)
	out.Targets = nil
	for _, a := range slices.Concat(base.Targets, p.Targets) {
		if !slices.Contains(out.Targets, a) {
			out.Targets = append(out.Targets, a)
		}
	}
	out.Error = strings.Trim(base.Error+"; "+p.Error, "; ")
	return out
}

// Nova is what OpenStack Nova wrote about the instance in the domain's
// <metadata> (nova:instance). Both fields are empty for domains Nova does not
// manage.
type Nova struct {
	// Instance is the instance's display name (nova:name).
	Instance string
	// Project is the owning project's name (nova:owner/nova:project).
	Project string
}

// PolicyRule is one entry of the config file's `policies:` list: the policy
// of the domains it matches. The first matching rule applies; the domain's
// own metadata overrides it.
type PolicyRule struct {
	// Match is a domain name glob (as for exclude) or a domain UUID.
	Match         string       `yaml:"match"`
	Enabled       *bool        `yaml:"enabled"`
	Interval      Duration     `yaml:"interval"`
	RetryInterval Duration     `yaml:"retry_interval"`
	Targets       []netip.Addr `yaml:"targets"`
	// Probes are the rule's detection methods; each spec is checked as it
	// is decoded, its errors naming line and key.
	Probes []probe.Spec `yaml:"probes"`
	// Alert is whom to tell about the matched domains, and how.
	Alert AlertPolicy `yaml:"alert"`
}

// Policy returns the rule's policy.
func (r PolicyRule) Policy() Policy {
	return Policy{Enabled: r.Enabled, Interval: time.Duration(r.Interval),
		RetryInterval: time.Duration(r.RetryInterval), Targets: r.Targets, Probes: r.Probes, Alert: r.Alert}
}

// Matches reports whether the rule applies to the domain.
func (r PolicyRule) Matches(name, uuid string) bool {
	if r.Match == uuid && uuid != "" {
		return true
	}
	ok, _ := path.Match(r.Match, name)
	return ok
}

// validate checks one rule; i is its index for the message.
func (r PolicyRule) validate(i int) error {
	key := fmt.Sprintf("policies[%d]", i)
	if r.Match == "" {
		return config.Errorf(key+".match", "must name a domain, a glob or a UUID")
	}
	if _, err := path.Match(r.Match, ""); err != nil {
		return config.Errorf(key+".match", "pattern %q: %w", r.Match, err)
	}
	return config.Under(key, r.Policy().Validate())
}

// Validate reports the first value of p outside its bounds, naming its
// key (interval, retry_interval, targets, alert.KEY, probes): an interval
// or retry interval outside MinPolicyInterval and MaxPolicyInterval, more
// than MaxPolicyTargets targets, a target osdetect.ValidateOperatorTarget rejects, an alert
// policy AlertPolicy.Validate rejects, or invalid probes. Error is not
// looked at.
func (p Policy) Validate() error {
	for _, iv := range []struct {
		key string
		d   time.Duration
	}{{"interval", p.Interval}, {"retry_interval", p.RetryInterval}} {
		if iv.d != 0 && (iv.d < MinPolicyInterval || iv.d > MaxPolicyInterval) {
			return config.Errorf(iv.key, "%s is not between %s and %s", iv.d, MinPolicyInterval, MaxPolicyInterval)
		}
	}
	if len(p.Targets) > MaxPolicyTargets {
		return config.Errorf("targets", "%d targets, at most %d allowed", len(p.Targets), MaxPolicyTargets)
	}
	for i, a := range p.Targets {
		if err := osdetect.ValidateOperatorTarget(a); err != nil {
			return &config.FieldError{Key: fmt.Sprintf("targets[%d]", i), Err: err}
		}
	}
	if err := p.Alert.Validate(); err != nil {
		return config.Under("alert", err)
	}
	return validateProbes(p.Probes)
}

// validateProbes checks a policy's probes: at most probe.MaxProbes, each
// valid, at most one icmp and one mtu (both cover every target).
func validateProbes(specs []probe.Spec) error {
	if len(specs) > probe.MaxProbes {
		return config.Errorf("probes", "%d probes, at most %d allowed", len(specs), probe.MaxProbes)
	}
	seen := map[string]bool{}
	for i := range specs {
		s := specs[i]
		if err := s.Validate(); err != nil {
			return fmt.Errorf("probes[%d].%w", i, err)
		}
		if (s.Method == "icmp" || s.Method == "mtu") && seen[s.Method] {
			return config.Errorf(fmt.Sprintf("probes[%d].method", i), "a second %s probe; one covers every gateway and external target", s.Method)
		}
		seen[s.Method] = true
	}
	return nil
}

// ICMP is the policy's icmp probe, or the default: one echo request.
func (p Policy) ICMP() probe.Spec {
	for _, s := range p.Probes {
		if s.Method == "icmp" {
			return s
		}
	}
	return probe.Default
}

// PolicyFor returns the effective policy of a domain: the first matching
// config rule, with meta (the domain's own metadata policy) laid over it.
//
// The --probe flag's probes (Config.Probes) replace the policy's.
func (c Config) PolicyFor(name, uuid string, meta Policy) Policy {
	p := meta.Over(Policy{})
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

// MaxExpectedAddrs bounds the expected addresses, and separately the
// platform gateways, of one NIC, whatever the number of sources: each
// expected address is one probe per round and one metric series.
const MaxExpectedAddrs = 16

// AppendExpected adds a to list as learned from source, unless a is not
// an address vmcheck may probe (ValidateExpected), is in list already
// (from any source: the first source named wins), or list holds
// MaxExpectedAddrs addresses. Sources fill NIC.Expected and NIC.Gateways
// only through it, so both stay valid and bounded whatever a domain's XML,
// a Proxmox VE config or the config file says.
func AppendExpected(list []ExpectedAddr, a netip.Addr, source string) []ExpectedAddr {
	if ValidateExpected(a) != nil || len(list) >= MaxExpectedAddrs {
		return list
	}
	for _, e := range list {
		if e.Addr == a {
			return list
		}
	}
	return append(list, ExpectedAddr{Addr: a, Source: source})
}

// ValidateExpected rejects what cannot be a NIC's assigned address or
// gateway: what osdetect.ValidateOperatorTarget rejects (invalid,
// unspecified, multicast, broadcast, zoned, loopback), and IPv4-mapped
// IPv6 addresses too: platforms write IPv4 addresses as such.
func ValidateExpected(a netip.Addr) error {
	if err := osdetect.ValidateOperatorTarget(a); err != nil {
		return err
	}
	if a.Is4In6() {
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address; write it as %s", a, a.Unmap())
	}
	return nil
}
