package checker

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MetadataNamespace is the XML namespace of vmcheck's per-domain policy in
// a libvirt domain's <metadata>. Set it with
//
//	virsh metadata DOMAIN --uri https://vmcheck.dev/xmlns/1 --key vmcheck \
//	  --set '<check enabled="true" interval="60s"><target>203.0.113.20</target></check>'
const MetadataNamespace = "https://vmcheck.dev/xmlns/1"

// novaNamespacePrefix starts every version of OpenStack Nova's libvirt
// metadata namespace (…/nova/1.0, 1.1, 1.2).
const novaNamespacePrefix = "http://openstack.org/xmlns/libvirt/nova/"

// Bounds on a per-domain check interval.
const (
	MinPolicyInterval = 5 * time.Second
	MaxPolicyInterval = 24 * time.Hour
)

// maxPolicyTargets bounds the extra targets of one domain: each is one
// guest-exec per round and one metric series.
const maxPolicyTargets = 8

// Policy is the per-domain check policy: from a config rule, then from the
// domain's own libvirt metadata on top. The zero Policy changes nothing.
type Policy struct {
	// Enabled is nil when unset; false excludes the domain from every
	// command, as --exclude would.
	Enabled *bool
	// Interval is how often `vmcheck serve` checks the domain; zero means
	// the --interval flag.
	Interval time.Duration
	// Targets are extra addresses pinged from inside this guest, on top of
	// the configured external targets, reported as external probes.
	Targets []netip.Addr
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
	Match    string       `yaml:"match"`
	Enabled  *bool        `yaml:"enabled"`
	Interval Duration     `yaml:"interval"`
	Targets  []netip.Addr `yaml:"targets"`
}

// Policy returns the rule's policy.
func (r PolicyRule) Policy() Policy {
	return Policy{Enabled: r.Enabled, Interval: time.Duration(r.Interval), Targets: r.Targets}
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
	if r.Match == "" {
		return fmt.Errorf("policies[%d].match: must name a domain, a glob or a UUID", i)
	}
	if _, err := path.Match(r.Match, ""); err != nil {
		return fmt.Errorf("policies[%d].match: pattern %q: %w", i, r.Match, err)
	}
	if err := validatePolicy(r.Policy()); err != nil {
		return fmt.Errorf("policies[%d].%w", i, err)
	}
	return nil
}

func validatePolicy(p Policy) error {
	if p.Interval != 0 && (p.Interval < MinPolicyInterval || p.Interval > MaxPolicyInterval) {
		return fmt.Errorf("interval: %s is not between %s and %s", p.Interval, MinPolicyInterval, MaxPolicyInterval)
	}
	if len(p.Targets) > maxPolicyTargets {
		return fmt.Errorf("targets: %d targets, at most %d allowed", len(p.Targets), maxPolicyTargets)
	}
	for i, a := range p.Targets {
		if err := ValidateTarget(a); err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
	}
	return nil
}

// PolicyFor returns the effective policy of a domain: the first matching
// config rule, with meta (the domain's own metadata policy) laid over it.
func (c Config) PolicyFor(name, uuid string, meta Policy) Policy {
	for _, r := range c.Policies {
		if r.Matches(name, uuid) {
			return meta.Over(r.Policy())
		}
	}
	return meta.Over(Policy{})
}

// xmlCheck is <vmcheck:check enabled=… interval=…><vmcheck:target>…</…>.
// Targets match in any namespace: `virsh metadata --set` puts only the root
// element in the vmcheck namespace, leaving <target> children in none.
type xmlCheck struct {
	Enabled  string   `xml:"enabled,attr"`
	Interval string   `xml:"interval,attr"`
	Targets  []string `xml:"target"`
}

// xmlNova is the part of <nova:instance> vmcheck reads.
type xmlNova struct {
	Name  string `xml:"name"`
	Owner struct {
		Project string `xml:"project"`
	} `xml:"owner"`
}

// ParseMetadata reads vmcheck's policy and Nova's instance facts from the
// inner XML of a domain's <metadata> element. Other namespaces are
// ignored. An invalid vmcheck element is not an error: the policy comes back
// empty with Policy.Error saying why, so that a typo in one domain's
// metadata never stops the others from being checked.
func ParseMetadata(inner string) (Policy, Nova) {
	var (
		pol    Policy
		nova   Nova
		seenVM bool
	)
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				pol = Policy{Error: fmt.Sprintf("metadata is not well-formed XML: %v", err)}
			}
			return pol, nova
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch {
		case se.Name.Space == MetadataNamespace && se.Name.Local == "check" && !seenVM:
			seenVM = true
			var x xmlCheck
			if err := dec.DecodeElement(&x, &se); err != nil {
				pol = Policy{Error: fmt.Sprintf("vmcheck metadata: %v", err)}
				continue
			}
			p, err := x.policy()
			if err != nil {
				pol = Policy{Error: fmt.Sprintf("vmcheck metadata ignored: %v", err)}
				continue
			}
			pol = p
		case strings.HasPrefix(se.Name.Space, novaNamespacePrefix) && se.Name.Local == "instance":
			var x xmlNova
			if err := dec.DecodeElement(&x, &se); err != nil {
				continue
			}
			nova = Nova{Instance: strings.TrimSpace(x.Name), Project: strings.TrimSpace(x.Owner.Project)}
		default:
			if err := dec.Skip(); err != nil {
				return pol, nova
			}
		}
	}
}

func (x xmlCheck) policy() (Policy, error) {
	var p Policy
	if x.Enabled != "" {
		b, err := strconv.ParseBool(x.Enabled)
		if err != nil {
			return Policy{}, fmt.Errorf("enabled: %q is not true or false", x.Enabled)
		}
		p.Enabled = &b
	}
	if x.Interval != "" {
		d, err := time.ParseDuration(x.Interval)
		if err != nil {
			return Policy{}, fmt.Errorf("interval: %w", err)
		}
		p.Interval = d
	}
	for _, t := range x.Targets {
		a, err := netip.ParseAddr(strings.TrimSpace(t))
		if err != nil {
			return Policy{}, fmt.Errorf("target %q: not an IP address", truncate(t, 64))
		}
		p.Targets = append(p.Targets, a)
	}
	if err := validatePolicy(p); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func truncate(s string, n int) string {
	b := []byte(s)
	if len(b) <= n {
		return s
	}
	return string(bytes.ToValidUTF8(b[:n], nil)) + "…"
}
