// Package policy is what an operator or a tenant says about checking one VM:
// the per-VM Policy (whether, how often, which extra targets and probe
// methods, whom to alert), the config file's policies (Rule, first match
// wins) and the domain metadata laid over them (Policy.Over), with their
// bounds and validation. It knows no backend and no engine: the config
// (package settings) holds the rules, backends parse metadata into a
// Policy, the engine (package checker) applies it.
package policy

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
	MinInterval = 5 * time.Second
	MaxInterval = 24 * time.Hour
)

// MaxTargets bounds the extra targets of one domain: each is one
// guest-exec per round and one metric series.
const MaxTargets = 8

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
	Alert Alert
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

// Rule is one entry of the config file's `policies:` list: the policy
// of the domains it matches. The first matching rule applies; the domain's
// own metadata overrides it.
type Rule struct {
	// Match is a domain name glob (as for exclude) or a domain UUID.
	Match         string          `yaml:"match"`
	Enabled       *bool           `yaml:"enabled"`
	Interval      config.Duration `yaml:"interval"`
	RetryInterval config.Duration `yaml:"retry_interval"`
	Targets       []netip.Addr    `yaml:"targets"`
	// Probes are the rule's detection methods; each spec is checked as it
	// is decoded, its errors naming line and key.
	Probes []probe.Spec `yaml:"probes"`
	// Alert is whom to tell about the matched domains, and how.
	Alert Alert `yaml:"alert"`
}

// Policy returns the rule's policy.
func (r Rule) Policy() Policy {
	return Policy{Enabled: r.Enabled, Interval: time.Duration(r.Interval),
		RetryInterval: time.Duration(r.RetryInterval), Targets: r.Targets, Probes: r.Probes, Alert: r.Alert}
}

// Matches reports whether the rule applies to the domain.
func (r Rule) Matches(name, uuid string) bool {
	if r.Match == uuid && uuid != "" {
		return true
	}
	ok, _ := path.Match(r.Match, name)
	return ok
}

// ValidateRules reports the first invalid rule of the config file's
// policies, naming its key path (policies[i].KEY).
func ValidateRules(rules []Rule) error {
	for i, r := range rules {
		if err := r.validate(i); err != nil {
			return err
		}
	}
	return nil
}

// validate checks one rule; i is its index for the message.
func (r Rule) validate(i int) error {
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
// or retry interval outside MinInterval and MaxInterval, more
// than MaxTargets targets, a target osdetect.ValidateOperatorTarget rejects, an alert
// policy Alert.Validate rejects, or invalid probes. Error is not
// looked at.
func (p Policy) Validate() error {
	for _, iv := range []struct {
		key string
		d   time.Duration
	}{{"interval", p.Interval}, {"retry_interval", p.RetryInterval}} {
		if iv.d != 0 && (iv.d < MinInterval || iv.d > MaxInterval) {
			return config.Errorf(iv.key, "%s is not between %s and %s", iv.d, MinInterval, MaxInterval)
		}
	}
	if len(p.Targets) > MaxTargets {
		return config.Errorf("targets", "%d targets, at most %d allowed", len(p.Targets), MaxTargets)
	}
	for i, a := range p.Targets {
		if err := osdetect.ValidateOperatorTarget(a); err != nil {
			return &config.FieldError{Key: fmt.Sprintf("targets[%d]", i), Err: err}
		}
	}
	if err := p.Alert.Validate(); err != nil {
		return config.Under("alert", err)
	}
	return ValidateProbes(p.Probes)
}

// ValidateProbes checks a policy's probes: at most probe.MaxProbes, each
// valid, at most one icmp and one mtu (both cover every target).
func ValidateProbes(specs []probe.Spec) error {
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
