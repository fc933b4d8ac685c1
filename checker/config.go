package checker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe"
)

// Defaults for Config fields left unset.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultPingTimeout = 2 * time.Second
	// DefaultConcurrency is how many domains are checked at once: a check
	// spends most of its time waiting for its guest's ping, holding no
	// libvirtd worker (AgentCalls bounds those).
	DefaultConcurrency = 128
	// MaxConcurrency bounds --concurrency.
	MaxConcurrency = 1024
	// DefaultAgentCalls is AgentCalls when libvirtd's max_workers cannot be
	// read: AgentCallsFor libvirtd's default max_workers, 20.
	DefaultAgentCalls = 18
	// MaxAgentCalls bounds --agent-calls.
	MaxAgentCalls = 1024
	// MinListTimeout is the shortest deadline Config.ListTimeout gives
	// connecting to the host and listing its domains, however short the
	// per-domain timeout: the QEMU backend spends up to 5 s on each VM
	// whose QMP socket hangs and still lists it.
	MinListTimeout = 30 * time.Second
)

// Network types an operator can assign to a libvirt network or bridge.
const (
	NetworkExternal = "external"
	NetworkInternal = "internal"
)

// Config is vmcheck's configuration: the YAML file, then flags on top.
type Config struct {
	// Connect is the libvirt URI; empty means LIBVIRT_DEFAULT_URI, then
	// qemu:///system.
	Connect string
	// External lists the addresses pinged from inside every guest.
	External []netip.Addr
	// Timeout is the deadline for checking one domain.
	Timeout Duration
	// PingTimeout is how long the in-guest ping waits for its reply.
	PingTimeout Duration
	// RetryInterval is how soon serve and cron re-check a domain whose
	// probes failed fewer than --down-after times in a row (zero: their
	// default, --retry-interval).
	RetryInterval Duration
	// Concurrency is how many domains are checked at once.
	Concurrency int
	// AgentCalls is how many guest agent calls may be in flight at once,
	// over every domain: through libvirt each holds a libvirtd worker
	// thread. Zero: DefaultAgentCalls (the CLI first derives it from
	// libvirtd's max_workers where it can read it, AgentCallsFor).
	AgentCalls int
	// Domains restricts the check to these names or UUIDs; empty means all
	// running domains.
	Domains []string
	// Exclude skips domains whose name matches one of these globs.
	Exclude []string
	// Networks maps a libvirt network name or a bridge name to its type and,
	// optionally, its gateway.
	Networks map[string]NetworkConfig
	// Policies are per-domain check policies; the first rule matching a
	// domain applies, and the domain's libvirt metadata overrides it.
	Policies []PolicyRule
	// QEMUDir selects the backend for hosts without libvirt (package
	// qemuhost): a directory of <id>.qmp and <id>.qga sockets (Proxmox VE:
	// /var/run/qemu-server). Empty, with no QEMUVMs, means libvirt.
	QEMUDir string
	// QEMUVMs lists QMP and agent socket pairs for that backend, in
	// addition to those found in QEMUDir.
	QEMUVMs []QEMUVM
	// PVEConfigDir holds the Proxmox VE VM configs <id>.conf that backend
	// reads NICs and bridges from; empty means /etc/pve/qemu-server.
	PVEConfigDir string
	// OVSDB is the Open vSwitch database (an OVSDB unix socket remote)
	// read for Open vSwitch and vhost-user NICs after a failed check; ""
	// means DefaultOVSDB.
	OVSDB string
	// OptIn checks only the domains that consent to it (see
	// Config.Consents); the others are skipped, not reported.
	OptIn bool
	// Probes, when set (the --probe flag), are every domain's probes,
	// instead of its policy's; at most probe.MaxProbes.
	Probes []probe.Spec
	// NICs is the operator's word on single NICs, keyed by MAC in
	// guestagent.NormalMAC form: the addresses assigned to each and its
	// gateways (see Config.NICFacts).
	NICs map[string]NICConfig
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

// macKey is a MAC address as a key of the config file's nics mapping; its
// own type lets checkShape report a key that is not a MAC with its line.
type macKey string

// NICFacts returns what the config file says of the NIC whose MAC is mac
// (in any spelling guestagent.NormalMAC accepts): the addresses assigned
// to it and its gateways, each with Source "config", valid and at most
// MaxExpectedAddrs of each (AppendExpected). Both are nil when the file
// says nothing of that MAC or mac is not a MAC. The slices are the
// caller's to keep or append to.
func (c Config) NICFacts(mac string) (expected, gateways []ExpectedAddr) {
	m, ok := guestagent.NormalMAC(mac)
	if !ok {
		return nil, nil
	}
	n, ok := c.NICs[m]
	if !ok {
		return nil, nil
	}
	for _, a := range n.Addresses {
		expected = AppendExpected(expected, a, "config")
	}
	for _, a := range n.Gateways {
		gateways = AppendExpected(gateways, a, "config")
	}
	return expected, gateways
}

// QEMUVM names the sockets of one VM run by QEMU without libvirt: an entry
// of the config file's qemu_vms. It is the one type for such a VM — package
// qemuhost names it qemuhost.VM (an alias: qemuhost imports checker, so
// the type is declared here, where the config file is decoded).
type QEMUVM struct {
	// ID identifies the VM on the host: the file name of its sockets and of
	// its Proxmox VE config (<ID>.conf), e.g. the vmid "101". It is the
	// VM's name when neither QEMU nor the config gives one.
	ID string `yaml:"id"`
	// QMP is the path of the VM's QMP socket.
	QMP string `yaml:"qmp"`
	// Agent is the path of the VM's guest agent socket; "" if it has none.
	Agent string `yaml:"agent"`
}

// QEMU reports whether the config selects the backend for hosts without
// libvirt.
func (c Config) QEMU() bool { return c.QEMUDir != "" || len(c.QEMUVMs) > 0 }

// NetworkConfig is the operator's word on one libvirt network or bridge.
type NetworkConfig struct {
	// Type is "external" or "internal"; empty leaves it to the default route.
	Type string `yaml:"type"`
	// Gateway overrides every other way of learning the gateway.
	Gateway *netip.Addr `yaml:"gateway"`
}

// Duration is a time.Duration; in YAML it is written as "2s" or "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string such as "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as \"30s\": %w", n.Line, err)
	}
	v, err := parseDuration(fmt.Sprintf("line %d", n.Line), s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// rawConfig is the YAML shape of Config, with durations as strings so a bad
// one is reported with its key.
type rawConfig struct {
	Connect       string                   `yaml:"connect"`
	External      []netip.Addr             `yaml:"external"`
	Timeout       string                   `yaml:"timeout"`
	PingTimeout   string                   `yaml:"ping_timeout"`
	RetryInterval string                   `yaml:"retry_interval"`
	Concurrency   *int                     `yaml:"concurrency"`
	AgentCalls    *int                     `yaml:"agent_calls"`
	Domains       []string                 `yaml:"domains"`
	Exclude       []string                 `yaml:"exclude"`
	Networks      map[string]NetworkConfig `yaml:"networks"`
	Policies      []PolicyRule             `yaml:"policies"`
	QEMUDir       string                   `yaml:"qemu_dir"`
	QEMUVMs       []QEMUVM                 `yaml:"qemu_vms"`
	PVEConfigDir  string                   `yaml:"pve_config_dir"`
	OVSDB         string                   `yaml:"ovsdb"`
	OptIn         bool                     `yaml:"opt_in"`
	NICs          map[macKey]NICConfig     `yaml:"nics"`
}

// parseDuration parses a Go duration such as "30s" for the config file;
// where names the value in the error: its key, or its line.
func parseDuration(where, s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration such as \"30s\"", where, s)
	}
	return Duration(d), nil
}

// DefaultConfigFile is the config file the CLI reads when it is present
// and --config is not given: the one the packages install.
const DefaultConfigFile = "/etc/vmcheck/vmcheck.yml"

// LoadConfig reads and validates a YAML config file. Unknown keys are errors.
// Its errors name the file, and the line and key of a bad value.
func LoadConfig(file string) (Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", file, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML config, rejecting unknown keys (each named with
// its line and the nearest valid key), and validates it. Errors name lines
// and keys, never Go types.
// Defaults are not applied; see Config.WithDefaults.
func ParseConfig(b []byte) (Config, error) {
	if err := checkShape(b); err != nil {
		return Config{}, err
	}
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, plainYAMLError(b, err)
	}
	cfg, err := raw.config()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return Config{}, withLine(b, err)
	}
	return cfg, nil
}

// config converts the decoded file into a Config. A value written but
// zero (timeout: 0s, concurrency: 0) is an error, not the default.
func (raw rawConfig) config() (Config, error) {
	cfg := Config{Connect: raw.Connect, External: raw.External,
		Domains: raw.Domains, Exclude: raw.Exclude, Networks: raw.Networks, Policies: raw.Policies,
		QEMUDir: raw.QEMUDir, QEMUVMs: raw.QEMUVMs, PVEConfigDir: raw.PVEConfigDir, OptIn: raw.OptIn, OVSDB: raw.OVSDB}
	var err error
	if cfg.NICs, err = normalNICs(raw.NICs); err != nil {
		return Config{}, err
	}
	if raw.Concurrency != nil {
		if *raw.Concurrency < 1 {
			return Config{}, &FieldError{Key: "concurrency", Err: fmt.Errorf("must be between 1 and %d, got %d", MaxConcurrency, *raw.Concurrency)}
		}
		cfg.Concurrency = *raw.Concurrency
	}
	if raw.AgentCalls != nil {
		if *raw.AgentCalls < 1 {
			return Config{}, &FieldError{Key: "agent_calls", Err: fmt.Errorf("must be between 1 and %d, got %d", MaxAgentCalls, *raw.AgentCalls)}
		}
		cfg.AgentCalls = *raw.AgentCalls
	}
	for _, d := range []struct {
		key string
		raw string
		dst *Duration
	}{{"timeout", raw.Timeout, &cfg.Timeout}, {"ping_timeout", raw.PingTimeout, &cfg.PingTimeout}, {"retry_interval", raw.RetryInterval, &cfg.RetryInterval}} {
		if d.raw == "" {
			continue
		}
		if *d.dst, err = parseDuration(d.key, d.raw); err != nil {
			return Config{}, err
		}
		if *d.dst <= 0 {
			return Config{}, &FieldError{Key: d.key, Err: fmt.Errorf("must be positive, got %s", d.raw)}
		}
	}
	return cfg, nil
}

// FieldError is an invalid value of the config, named by its key as the
// config file writes it ("timeout", "external[1]"). Related names another
// key the value was judged against, if any ("timeout" for ping_timeout).
// The CLI reports the value under its flag when a flag set it.
type FieldError struct {
	// Key is the value's key, as the config file writes it.
	Key string
	// Related is the key the value was judged against, or "".
	Related string
	// Err says what is wrong with the value.
	Err error
}

// Error implements error: "key: what is wrong".
func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the error without its key.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr is a FieldError for key with a formatted message.
func fieldErr(key, format string, a ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, a...)}
}

// WithDefaults returns cfg with unset fields filled in.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = Duration(DefaultPingTimeout)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.AgentCalls == 0 {
		c.AgentCalls = DefaultAgentCalls
	}
	return c
}

// ListTimeout is the deadline for connecting to the host and for listing
// its domains: the per-domain Timeout, but at least MinListTimeout. A hung
// libvirtd or QMP socket thus fails the listing instead of hanging vmcheck.
func (c Config) ListTimeout() time.Duration {
	return max(time.Duration(c.Timeout), MinListTimeout)
}

// Consents reports whether, in opt-in mode, the domain has agreed to be
// checked. meta is the domain's own policy from its libvirt metadata
// (Domain.Policy as the Source reports it, before Config.PolicyFor):
// consent is <vmcheck:check enabled="true"/> there. A config rule does not
// count on libvirt hosts — the operator cannot consent for a tenant, and a
// rule matching "*" would make opt-in meaningless. The QEMU backend has no
// per-VM metadata, so there the first config rule matching the VM counts
// when it says enabled: true.
func (c Config) Consents(name, uuid string, meta Policy) bool {
	if meta.Enables() {
		return true
	}
	if !c.QEMU() {
		return false
	}
	for _, r := range c.Policies {
		if r.Matches(name, uuid) {
			return r.Policy().Enables()
		}
	}
	return false
}

// Validate reports the first invalid value, naming its key (a
// *FieldError for the top-level keys).
func (c Config) Validate() error {
	if err := ValidateOVSDB(c.OVSDB); err != nil {
		return &FieldError{Key: "ovsdb", Err: err}
	}
	for i, a := range c.External {
		if err := ValidateTarget(a); err != nil {
			return &FieldError{Key: fmt.Sprintf("external[%d]", i), Err: err}
		}
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"timeout", c.Timeout}, {"retry_interval", c.RetryInterval}, {"ping_timeout", c.PingTimeout}} {
		if d.d < 0 {
			return fieldErr(d.key, "must be positive, got %s", time.Duration(d.d))
		}
	}
	if c.PingTimeout > 0 && c.PingTimeout%Duration(time.Millisecond) != 0 {
		return fieldErr("ping_timeout", "%s is finer than a millisecond", time.Duration(c.PingTimeout))
	}
	if c.Timeout > 0 && c.PingTimeout > 0 && 2*c.PingTimeout > c.Timeout {
		return &FieldError{Key: "ping_timeout", Related: "timeout", Err: fmt.Errorf(
			"%s must be at most half of the timeout (%s), so the ping ends well inside the check's deadline",
			time.Duration(c.PingTimeout), time.Duration(c.Timeout))}
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		return fieldErr("concurrency", "must be between 1 and %d, got %d", MaxConcurrency, c.Concurrency)
	}
	if c.AgentCalls < 0 || c.AgentCalls > MaxAgentCalls {
		return fieldErr("agent_calls", "must be between 1 and %d, got %d", MaxAgentCalls, c.AgentCalls)
	}
	for _, g := range c.Exclude {
		if _, err := path.Match(g, ""); err != nil {
			return &FieldError{Key: "exclude", Err: fmt.Errorf("pattern %q: %w", g, err)}
		}
	}
	for i, r := range c.Policies {
		if err := r.validate(i); err != nil {
			return err
		}
	}
	if c.Connect != "" && c.QEMU() {
		return fieldErr("connect", "a libvirt URI and qemu_dir/qemu_vms select different backends; set one of them")
	}
	for i, vm := range c.QEMUVMs {
		switch {
		case vm.ID == "":
			return fmt.Errorf("qemu_vms[%d].id: missing", i)
		case vm.QMP == "":
			return fmt.Errorf("qemu_vms[%d].qmp: missing (the path of the VM's QMP socket)", i)
		}
	}
	if err := validateProbes(c.Probes); err != nil {
		return fmt.Errorf("--probe: %w", err)
	}
	if err := validateNICs(c.NICs); err != nil {
		return err
	}
	for name, n := range c.Networks {
		switch n.Type {
		case "", NetworkExternal, NetworkInternal:
		default:
			return fmt.Errorf("networks.%s.type: %q is not %q or %q", name, n.Type, NetworkExternal, NetworkInternal)
		}
		if n.Gateway != nil {
			if err := ValidateTarget(*n.Gateway); err != nil {
				return fmt.Errorf("networks.%s.gateway: %w", name, err)
			}
		}
	}
	return nil
}

// normalNICs keys the config file's nics by normalised MAC; a key that is
// not a MAC, or a MAC written twice, is an error (checkShape names their
// lines first).
func normalNICs(raw map[macKey]NICConfig) (map[string]NICConfig, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]NICConfig, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		m, ok := guestagent.NormalMAC(string(k))
		if !ok {
			return nil, fmt.Errorf("nics: %q is not a MAC address", string(k))
		}
		if _, dup := out[m]; dup {
			return nil, fmt.Errorf("nics: %s is listed twice", m)
		}
		out[m] = raw[k]
	}
	return out, nil
}

// validateNICs reports the first invalid entry of Config.NICs, in MAC
// order: a key not in NormalMAC form, more than MaxExpectedAddrs addresses
// or gateways, or one ValidateExpected rejects.
func validateNICs(nics map[string]NICConfig) error {
	for _, mac := range slices.Sorted(maps.Keys(nics)) {
		if m, ok := guestagent.NormalMAC(mac); !ok || m != mac {
			return fmt.Errorf("nics: %q is not a MAC address in lower-case colon form", mac)
		}
		n := nics[mac]
		for _, kl := range []struct {
			key  string
			list []netip.Addr
		}{{"addresses", n.Addresses}, {"gateways", n.Gateways}} {
			key, list := kl.key, kl.list
			if len(list) > MaxExpectedAddrs {
				return fmt.Errorf("nics.%s.%s: %d addresses, at most %d allowed", mac, key, len(list), MaxExpectedAddrs)
			}
			for i, a := range list {
				if err := ValidateExpected(a); err != nil {
					return fmt.Errorf("nics.%s.%s[%d]: %w", mac, key, i, err)
				}
			}
		}
	}
	return nil
}

// ValidateTarget rejects addresses that must never be put into a ping argv
// (osdetect.ValidateTarget: invalid, unspecified, multicast, broadcast),
// any zone: an address the operator writes cannot know the guest's
// interface, and loopback addresses: the guest itself always answers
// them, so the probe would pass whatever the guest's network.
func ValidateTarget(a netip.Addr) error {
	if err := osdetect.ValidateTarget(a); err != nil {
		return err
	}
	if a.Zone() != "" {
		return fmt.Errorf("%s has a zone; use an address without %%zone", a)
	}
	if a.Unmap().IsLoopback() {
		return fmt.Errorf("%s is a loopback address: the guest itself always answers it, so the probe would pass whatever its network", a)
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
