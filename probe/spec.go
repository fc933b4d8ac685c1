package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vmcheck/vmcheck/osdetect"
)

// Spec is one probe of a VM's policy, as the operator writes it in the
// config file's policies[].probes (or a domain's metadata). Which keys a
// method reads is said in its file; Validate rejects the others.
type Spec struct {
	// Method names the method: icmp, mtu, dns, tcp or http.
	Method string
	// Count is the number of echo requests in one guest command (icmp).
	Count int
	// MaxLoss and MaxRTT are thresholds (icmp; MaxRTT also tcp and
	// http): crossing one fails the probe, reaching WarnAt of one makes it
	// degraded. Zero MaxRTT and nil MaxLoss mean no threshold.
	MaxLoss *float64
	MaxRTT  time.Duration
	// WarnAt is the warning level as a fraction of a threshold (default
	// DefaultWarnAt).
	WarnAt float64
	// Name is the host name to resolve (dns); Expect an address it must
	// resolve to (optional).
	Name   string
	Expect netip.Addr
	// Target is host:port (tcp).
	Target string
	// URL is an http or https URL without credentials (http); Status the
	// expected status: a class ("2xx") or a code ("204"); default "2xx".
	URL    string
	Status string
	// Timeout bounds the probe's wait in the guest (dns, tcp, http);
	// zero means the check's ping timeout.
	Timeout time.Duration
}

// Bounds and defaults of specs.
const (
	MaxCount      = 20
	DefaultWarnAt = 0.8
	// maxWait bounds any timeout or threshold a spec may name.
	maxWait = 5 * time.Minute
)

// specKeys are the YAML keys of a spec, and the methods that read each.
var specKeys = map[string][]string{
	"method":   nil,
	"count":    {"icmp"},
	"max_loss": {"icmp"},
	"max_rtt":  {"icmp", "tcp", "http"},
	"warn_at":  {"icmp", "tcp", "http"},
	"name":     {"dns"},
	"expect":   {"dns"},
	"target":   {"tcp"},
	"url":      {"http"},
	"status":   {"http"},
	"timeout":  {"dns", "tcp", "http"},
}

// UnmarshalYAML decodes and validates a spec: an unknown key, a key the
// method does not read, a value of the wrong kind or out of bounds is an
// error naming its line and key.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a probe is a mapping such as {method: icmp, count: 5}", n.Line)
	}
	var out Spec
	method := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "method" {
			method = v.Value
		}
	}
	if _, ok := Lookup(method); !ok {
		return fmt.Errorf("line %d: method: %q is not one of %s", n.Line, method, strings.Join(Names(), ", "))
	}
	out.Method = method
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := checkKey(method, k.Value, seen); err != nil {
			return fmt.Errorf("line %d: %w", k.Line, err)
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: want a single value", v.Line, k.Value)
		}
		if err := out.set(k.Value, v.Value); err != nil {
			return fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = out
	return nil
}

func sortedKeys() []string {
	out := make([]string, 0, len(specKeys))
	for k := range specKeys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkKey rejects a key that is unknown, given twice, or not read by
// the method; seen collects the keys.
func checkKey(method, k string, seen map[string]bool) error {
	users, known := specKeys[k]
	switch {
	case !known:
		return fmt.Errorf("unknown key %q in a probe (keys: %s)", k, strings.Join(sortedKeys(), ", "))
	case seen[k]:
		return fmt.Errorf("%s: given twice", k)
	case users != nil && !slices.Contains(users, method):
		return fmt.Errorf("%s: not a key of the %s method", k, method)
	}
	seen[k] = true
	return nil
}

// set decodes one key's value into s.
func (s *Spec) set(key, v string) error {
	var err error
	switch key {
	case "method":
	case "count":
		s.Count, err = strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
	case "max_loss":
		f, err := parseRatio(v)
		if err != nil {
			return err
		}
		s.MaxLoss = &f
	case "warn_at":
		s.WarnAt, err = parseRatio(v)
	case "max_rtt":
		s.MaxRTT, err = parseWait(v)
	case "timeout":
		s.Timeout, err = parseWait(v)
	case "expect":
		s.Expect, err = netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", v)
		}
	case "name":
		s.Name = v
	case "target":
		s.Target = v
	case "url":
		s.URL = v
	case "status":
		s.Status = v
	}
	return err
}

// FromPairs builds and validates a spec from key=value pairs, as a
// domain's metadata (<probe method="dns" name="…"/>) or the --probe flag
// give it: the same keys, bounds and errors as the config file's.
func FromPairs(pairs [][2]string) (Spec, error) {
	var out Spec
	for _, kv := range pairs {
		if kv[0] == "method" {
			out.Method = kv[1]
		}
	}
	if _, ok := Lookup(out.Method); !ok {
		return Spec{}, fmt.Errorf("method: %q is not one of %s", out.Method, strings.Join(Names(), ", "))
	}
	seen := map[string]bool{}
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if err := checkKey(out.Method, k, seen); err != nil {
			return Spec{}, err
		}
		if err := out.set(k, v); err != nil {
			return Spec{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := out.Validate(); err != nil {
		return Spec{}, err
	}
	return out, nil
}

// ParseFlag reads the --probe flag's form of a spec: the method, then
// comma-separated key=value pairs ("dns,name=www.example.test",
// "icmp,count=10,max_loss=20%"). A value cannot hold a comma: write such
// a probe in the config file.
func ParseFlag(v string) (Spec, error) {
	parts := strings.Split(v, ",")
	pairs := [][2]string{{"method", strings.TrimSpace(parts[0])}}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			return Spec{}, fmt.Errorf("%q is not key=value", p)
		}
		pairs = append(pairs, [2]string{strings.TrimSpace(k), strings.TrimSpace(val)})
	}
	return FromPairs(pairs)
}

// parseRatio reads a fraction between 0 and 1 ("0.2") or a percentage
// ("20%").
func parseRatio(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a fraction such as 0.2 or 20%%", v)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is not between 0 and 1 (0%% and 100%%)", v)
	}
	return f, nil
}

// parseWait reads a positive duration of at most maxWait.
func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"900ms\" or \"2s\"", v)
	}
	if d <= 0 || d > maxWait {
		return 0, fmt.Errorf("%s is not between 1ms and %s", v, maxWait)
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("%s is finer than a millisecond", v)
	}
	return d, nil
}

// Validate checks s against its method and fills in its defaults.
func (s *Spec) Validate() error {
	m, ok := Lookup(s.Method)
	if !ok {
		return fmt.Errorf("method: %q is not one of %s", s.Method, strings.Join(Names(), ", "))
	}
	if s.WarnAt == 0 {
		s.WarnAt = DefaultWarnAt
	}
	if s.WarnAt < 0 || s.WarnAt > 1 {
		return fmt.Errorf("warn_at: %v is not between 0 and 1", s.WarnAt)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"max_rtt", s.MaxRTT}, {"timeout", s.Timeout}} {
		if d.v < 0 || d.v > maxWait {
			return fmt.Errorf("%s: %s is not between 1ms and %s", d.key, d.v, maxWait)
		}
	}
	return m.Validate(s)
}

// Label is the probe's target as a metric label and in texts: the
// address, name, host:port or URL the operator wrote; for methods fanned
// out over the VM's targets, the method name.
func (s Spec) Label() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Target != "":
		return s.Target
	case s.URL != "":
		return s.URL
	}
	return s.Method
}

// ValidHostname reports whether h is a host name per RFC 1123: dot
// separated labels of letters, digits and hyphens, none starting or
// ending with a hyphen, at most 63 bytes each and 253 in all. Guests get
// only such names (or addresses) in an argv: a name starting with "-"
// could be read as an option.
func ValidHostname(h string) error {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name (1 to 253 characters)", h)
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q is not a host name: label %q must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen", h, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a host name: %q is not a letter, digit or hyphen", h, c)
			}
		}
	}
	return nil
}

// validHost accepts an IP address (osdetect.ValidateOperatorTarget) or a
// host name.
func validHost(h string) error {
	if a, err := netip.ParseAddr(h); err == nil {
		return osdetect.ValidateOperatorTarget(a)
	}
	return ValidHostname(h)
}

// splitHostPort splits and checks "host:port" ("[v6]:port" for IPv6).
func splitHostPort(hp string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port (IPv6 as [addr]:port)", hp)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not between 1 and 65535", hp, p)
	}
	if err := validHost(h); err != nil {
		return "", 0, err
	}
	return h, port, nil
}

// checkURL accepts an http or https URL with a host, without credentials
// or fragment, and with no character a terminal or argv would take
// otherwise.
func checkURL(raw string) error {
	if len(raw) > 256 {
		return errors.New("longer than 256 bytes")
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f || c > 0x7e {
			return fmt.Errorf("%q has a space, a control or a non-ASCII character: percent-encode it", raw)
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: only http and https URLs", raw)
	case u.User != nil:
		return fmt.Errorf("%q has credentials: vmcheck does not put secrets in a guest's process list", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Fragment != "":
		return fmt.Errorf("%q has a fragment (#…), which is never sent", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not between 1 and 65535", raw, p)
		}
	}
	return validHost(u.Hostname())
}
