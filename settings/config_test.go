package settings

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/policy"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
connect: qemu+unix:///system?socket=/tmp/x
external: [203.0.113.10, "2001:db8:ff::10"]
timeout: 20s
ping_timeout: 1500ms
concurrency: 4
domains: [web-1]
exclude: ["test-*"]
networks:
  vcpub0: {type: external, gateway: 192.0.2.1}
  lab-internal: {type: internal}
`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if got, want := len(cfg.External), 2; got != want {
		t.Fatalf("external = %v, want %d addresses", cfg.External, want)
	}
	if cfg.External[1] != netip.MustParseAddr("2001:db8:ff::10") {
		t.Errorf("external[1] = %v", cfg.External[1])
	}
	if time.Duration(cfg.Timeout) != 20*time.Second || time.Duration(cfg.PingTimeout) != 1500*time.Millisecond {
		t.Errorf("timeouts = %v/%v", time.Duration(cfg.Timeout), time.Duration(cfg.PingTimeout))
	}
	if gw := cfg.Networks["vcpub0"].Gateway; gw == nil || *gw != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("networks.vcpub0.gateway = %v", gw)
	}
	if cfg.Networks["lab-internal"].Type != NetworkInternal {
		t.Errorf("networks.lab-internal.type = %q", cfg.Networks["lab-internal"].Type)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "externals: [203.0.113.10]", `line 1: unknown key "externals" (did you mean "external"?)`},
		{"unknown nested key", "timeout: 5s\npolicies:\n  - match: web\n    intervall: 5m", `line 4: unknown key "policies[0].intervall" (did you mean "interval"?)`},
		{"address with its line", "timeout: 5s\nexternal: [192.0.2.1, 203.0.113.300]", `line 2: external[1]: "203.0.113.300" is not an IP address`},
		{"no Go types", "concurrency: many", `line 1: "many" is not a whole number`},
		{"a mapping for a list", "policies: {a: 1}", "line 1: a mapping where a list is expected"},
		{"bad address", "external: [203.0.113.300]", "203.0.113.300"},
		{"hostname", "external: [example.com]", "example.com"},
		{"unspecified", "external: [0.0.0.0]", "external[0]: 0.0.0.0 is the unspecified address"},
		{"multicast", "external: [\"ff02::1\"]", "external[0]: ff02::1 is a multicast address"},
		{"broadcast", "external: [255.255.255.255]", "broadcast"},
		{"bad duration", "timeout: soon", "timeout"},
		{"negative timeout", "timeout: -1s", "timeout: must be positive"},
		{"ping not inside timeout", "timeout: 3s\nping_timeout: 2s", "line 2: ping_timeout: 2s must be at most half of the timeout"},
		{"concurrency", "concurrency: 100000", "concurrency: must be between 1 and 1024"},
		{"network type", "networks:\n  br0: {type: public}", `networks.br0.type: "public" is not`},
		{"network gateway", "networks:\n  br0: {gateway: 224.0.0.1}", "networks.br0.gateway: 224.0.0.1 is a multicast address"},
		{"unknown network key", "networks:\n  br0: {gw: 192.0.2.1}", `line 2: unknown key "networks.br0.gw"`},
		{"bad glob", "exclude: [\"[\"]", "exclude: pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%q) error = %v, want it to contain %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestParseConfigEmpty(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatalf("ParseConfig(empty): %v", err)
	}
	d := cfg.WithDefaults()
	if time.Duration(d.Timeout) != DefaultTimeout || time.Duration(d.PingTimeout) != DefaultPingTimeout || d.Concurrency != DefaultConcurrency {
		t.Errorf("defaults = %+v", d)
	}
}

func TestSelected(t *testing.T) {
	cfg := Config{Domains: []string{"web-1", "6f1c2a84-0000-4000-8000-000000000001"}, Exclude: []string{"web-*-old"}}
	tests := []struct {
		name, uuid string
		want       bool
	}{
		{"web-1", "x", true},
		{"db-1", "6f1c2a84-0000-4000-8000-000000000001", true},
		{"db-2", "y", false},
	}
	for _, tt := range tests {
		if got := cfg.Selected(tt.name, tt.uuid); got != tt.want {
			t.Errorf("Selected(%q, %q) = %v, want %v", tt.name, tt.uuid, got, tt.want)
		}
	}
	ex := Config{Exclude: []string{"test-*"}}
	if ex.Selected("test-a", "") || !ex.Selected("prod-a", "") {
		t.Errorf("exclude glob test-* misapplied")
	}
}

// TestConfigErrorsPlain: no config error names a Go type or spans lines.
func TestConfigErrorsPlain(t *testing.T) {
	for _, y := range []string{"concurrency: [1]", "opt_in: 3", "networks: [a]", "qemu_vms: {a: b}", "external: {a: 1}", "policies: [{targets: x}]"} {
		_, err := ParseConfig([]byte(y))
		if err == nil {
			t.Errorf("ParseConfig(%q) = nil error", y)
			continue
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n") || strings.Contains(msg, "checker.") || strings.Contains(msg, "settings.") || strings.Contains(msg, "netip") || strings.Contains(msg, "[]") {
			t.Errorf("ParseConfig(%q) error = %q: Go types or several lines", y, msg)
		}
	}
}

func TestParseConfigNICs(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
nics:
  "52:54:00:0C:00:11":
    addresses: [192.0.2.11, "2001:db8::11"]
    gateways: [192.0.2.1]
  52-54-00-0c-00-12: {gateways: ["2001:db8::1"]}
`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	tests := []struct {
		mac           string
		wantExpected  string
		wantGateways  string
		wantNoEntries bool
	}{
		{"52:54:00:0c:00:11", "[{192.0.2.11 config} {2001:db8::11 config}]", "[{192.0.2.1 config}]", false},
		{"52:54:00:0C:00:11", "[{192.0.2.11 config} {2001:db8::11 config}]", "[{192.0.2.1 config}]", false},
		{"52:54:00:0c:00:12", "[]", "[{2001:db8::1 config}]", false},
		{"52:54:00:0c:00:13", "[]", "[]", true},
		{"not a mac", "[]", "[]", true},
	}
	for _, tt := range tests {
		exp, gws := cfg.NICFacts(tt.mac)
		if got := fmt.Sprint(exp); got != tt.wantExpected {
			t.Errorf("NICFacts(%q) expected = %s, want %s", tt.mac, got, tt.wantExpected)
		}
		if got := fmt.Sprint(gws); got != tt.wantGateways {
			t.Errorf("NICFacts(%q) gateways = %s, want %s", tt.mac, got, tt.wantGateways)
		}
		if tt.wantNoEntries && (exp != nil || gws != nil) {
			t.Errorf("NICFacts(%q) = %v, %v, want nil, nil", tt.mac, exp, gws)
		}
	}
	if _, ok := cfg.NICs["52:54:00:0c:00:12"]; !ok || len(cfg.NICs) != 2 {
		t.Errorf("NICs keys = %v, want normalised MACs", cfg.NICs)
	}
}

func TestParseConfigNICsErrors(t *testing.T) {
	many := "nics:\n  52:54:00:0c:00:11:\n    addresses: [" + strings.TrimSuffix(strings.Repeat("192.0.2.7, ", 17), ", ") + "]"
	tests := []struct {
		name, yaml, want string
	}{
		{"not a MAC", "timeout: 5s\nnics:\n  eth0: {addresses: [192.0.2.11]}", `line 3: nics: "eth0" is not a MAC address`},
		{"MAC twice", "nics:\n  52:54:00:0c:00:11: {}\n  52:54:00:0C:00:11: {}", "line 3: nics: 52:54:00:0c:00:11 is already listed on line 2"},
		{"bad address with its line", "nics:\n  52:54:00:0c:00:11:\n    addresses: [192.0.2.300]", `line 3: nics.52:54:00:0c:00:11.addresses[0]: "192.0.2.300" is not an IP address`},
		{"gateway, not gateways", "nics:\n  52:54:00:0c:00:11: {gateway: 192.0.2.1}", `unknown key "nics.52:54:00:0c:00:11.gateway" (did you mean "gateways"?)`},
		{"multicast", "nics:\n  52:54:00:0c:00:11: {addresses: [224.0.0.1]}", "nics.52:54:00:0c:00:11.addresses[0]: 224.0.0.1 is a multicast address"},
		{"loopback gateway", "nics:\n  52:54:00:0c:00:11: {gateways: [127.0.0.1]}", "nics.52:54:00:0c:00:11.gateways[0]: 127.0.0.1 is a loopback address"},
		{"zone", "nics:\n  52:54:00:0c:00:11: {gateways: [\"fe80::1%eth0\"]}", "has a zone"},
		{"too many", many, "nics.52:54:00:0c:00:11.addresses: 17 addresses, at most 16 allowed"},
		{"a list for the mapping", "nics: [52:54:00:0c:00:11]", "line 1: a list where a mapping of names to values is expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%q) error = %v, want it to contain %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestValidateNICs(t *testing.T) {
	good := Config{NICs: map[string]NICConfig{"52:54:00:0c:00:11": {Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.11")}}}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%v) = %v", good.NICs, err)
	}
	bad := Config{NICs: map[string]NICConfig{"52:54:00:0C:00:11": {}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "lower-case colon form") {
		t.Errorf("Validate(%v) = %v, want a MAC form error", bad.NICs, err)
	}
}

// TestConfigValueErrorsNameLine: a value the file writes but the config
// rejects is reported with its line and key (issue 20: "timeout: must be
// positive" came without a line, a tab without a word of why), and a value
// written as zero is an error, not the default in disguise.
func TestConfigValueErrorsNameLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"negative timeout", "concurrency: 4\ntimeout: -5s", "line 2: timeout: must be positive, got -5s"},
		{"zero timeout", "timeout: 0s", "line 1: timeout: must be positive, got 0s"},
		{"zero retry interval", "retry_interval: 0s", "line 1: retry_interval: must be positive"},
		{"zero concurrency", "timeout: 5s\nconcurrency: 0", "line 2: concurrency: must be between 1 and 1024, got 0"},
		{"concurrency too high", "timeout: 5s\nconcurrency: 100000", "line 2: concurrency: must be between 1 and 1024"},
		{"network type", "timeout: 5s\nnetworks:\n  br0: {type: public}", `line 3: networks.br0.type: "public" is not`},
		{"bad glob", "timeout: 5s\nexclude:\n  - \"[\"", "line 2: exclude: pattern"},
		{"second external", "external:\n  - 192.0.2.1\n  - 0.0.0.0", "line 3: external[1]: 0.0.0.0 is the unspecified address"},
		{"policy match", "policies:\n  - interval: 5m\n    match: \"\"", "line 3: policies[0].match: must name"},
		{"tab", "timeout: 5s\nexternal:\n\t- 203.0.113.1\n", "line 3: indented with a tab; YAML indents with spaces only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%q) error = %v, want it to contain %q", tt.yaml, err, tt.want)
			}
		})
	}
}

// TestLoopbackExternalRejected: a loopback address always answers inside
// the guest, so as an external target or gateway it would be a false ok.
func TestLoopbackExternalRejected(t *testing.T) {
	for _, y := range []string{"external: [127.0.0.1]", "external: [\"::1\"]", "external: [\"::ffff:127.0.0.2\"]",
		"networks:\n  br0: {gateway: 127.0.0.1}"} {
		_, err := ParseConfig([]byte(y))
		if err == nil || !strings.Contains(err.Error(), "is a loopback address: the guest itself always answers it") {
			t.Errorf("ParseConfig(%q) error = %v, want a loopback error with its reason", y, err)
		}
	}
	var fe *config.FieldError
	if err := (Config{External: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}).Validate(); !errors.As(err, &fe) || fe.Key != "external[0]" {
		t.Errorf("Validate(external 127.0.0.1) = %v, want a FieldError for external[0]", err)
	}
}

// TestConfigNulls: a key written without a value is unset and a null
// item of a list of entries is dropped, as yaml.v3 decoded them; a null
// address is no address.
func TestConfigNulls(t *testing.T) {
	cfg, err := ParseConfig([]byte("timeout:\npolicies: [~]\ndomains: [a, ~]\nnics:\n  52:54:00:0c:00:11:\n"))
	if err != nil || cfg.Timeout != 0 || len(cfg.Policies) != 0 || len(cfg.Domains) != 1 || len(cfg.NICs) != 1 {
		t.Errorf("ParseConfig with nulls = %+v, %v", cfg, err)
	}
	for _, y := range []string{"external: [~]", "networks:\n  br0: {gateway: ~}"} {
		if _, err := ParseConfig([]byte(y)); err == nil || !strings.Contains(err.Error(), "is not an IP address") {
			t.Errorf("ParseConfig(%q) = %v, want an address error", y, err)
		}
	}
}

// FuzzParseConfig: whatever the file, ParseConfig returns a config or one
// line of error, never a panic; a config it returns is valid.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{issueProbesConfig, "timeout: 5s\ntimeout: 6s", "policies: [~]", "nics:\n  eth0: {}\n  52:54:00:0c:00:11: {gateways: [x]}",
		"a: &x [*x]", "external: [~, 1]", "networks: {br0: {type: [1]}}", "qemu_vms: [{id: a, qmp: /a}, ~, 5]", "- a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseConfig(%q): error on several lines: %q", b, err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("ParseConfig(%q) returned a config Validate rejects: %v", b, err)
		}
	})
}

// TestConfigErrorsNamePath: an error inside an entry names the entry's
// key path too (issue 22), after the words the entry's own decoder gave.
func TestConfigErrorsNamePath(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"policies:\n  - match: a\n  - match: b\n    probes:\n      - {method: icmp, count: 50}\n", "line 5: count: 50 is not between 1 and 20 (policies[1].probes[0])"},
		{"policies:\n  - match: a\n    enabled: maybe\n", `line 3: "maybe" is not true or false (policies[0].enabled)`},
		{"nics:\n  52:54:00:0c:00:11:\n    gateways: 192.0.2.1\n", `line 3: "192.0.2.1" is not a list (nics.52:54:00:0c:00:11.gateways)`},
	}
	for _, tt := range tests {
		if _, err := ParseConfig([]byte(tt.yaml)); err == nil || err.Error() != tt.want {
			t.Errorf("ParseConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestParseConfigAlertPolicy(t *testing.T) {
	cfg, err := ParseConfig([]byte("policies:\n  - match: \"shop-*\"\n    alert:\n      notify: both\n      severity: critical\n" +
		"      receiver: shop-oncall\n      tenant: shop\n  - match: \"*\"\n    alert: {notify: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.PolicyFor("shop-1", "", policy.Policy{}).Alert
	if want := (policy.Alert{Notify: "both", Severity: "critical", Receiver: "shop-oncall", Tenant: "shop"}); got != want {
		t.Errorf("PolicyFor(shop-1).Alert = %+v, want %+v", got, want)
	}
	// The domain's metadata overrides the rule field by field.
	meta := policy.Policy{Alert: policy.Alert{Notify: "operator", Receiver: "dba"}}
	got = cfg.PolicyFor("shop-1", "", meta).Alert
	if want := (policy.Alert{Notify: "operator", Severity: "critical", Receiver: "dba", Tenant: "shop"}); got != want {
		t.Errorf("PolicyFor(shop-1, meta).Alert = %+v, want %+v", got, want)
	}
	if got := cfg.PolicyFor("db-1", "", policy.Policy{}).Alert; got != (policy.Alert{Notify: "none"}) {
		t.Errorf("PolicyFor(db-1).Alert = %+v, want notify none", got)
	}
}

func TestParseConfigAlertPolicyErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"notify", "policies:\n  - match: a\n    alert:\n      notify: everyone\n",
			`line 4: policies[0].alert.notify: "everyone" is not one of [operator tenant both none]`},
		{"severity", "policies:\n  - match: a\n  - match: b\n    alert:\n      severity: page\n",
			`line 5: policies[1].alert.severity: "page" is not one of [info warning critical]`},
		{"receiver", "policies:\n  - match: a\n    alert:\n      receiver: \"acme oncall\"\n", `line 4: policies[0].alert.receiver: "acme oncall" is not a name`},
		{"receiver url", "policies:\n  - match: a\n    alert: {receiver: \"http://evil.example/\"}\n", `policies[0].alert.receiver: "http://evil.example/" is not a name`},
		{"tenant", "policies:\n  - match: a\n    alert:\n      tenant: -acme\n", `line 4: policies[0].alert.tenant: "-acme" is not a name`},
		{"unknown key", "policies:\n  - match: a\n    alert:\n      notfy: both\n", `line 4: unknown key "policies[0].alert.notfy" (did you mean "notify"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%q) error = %v, want it to contain %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestPolicyFor(t *testing.T) {
	f, tr := false, true
	cfg := Config{Policies: []policy.Rule{
		{Match: "db-*", Enabled: &f},
		{Match: "web-*", Interval: config.Duration(2 * time.Minute), Targets: addrs("192.0.2.1")},
		{Match: "6695eb01-f6a4-8304-79aa-97f2502e193f", Interval: config.Duration(30 * time.Second)},
		{Match: "batch-*", RetryInterval: config.Duration(time.Minute)},
	}}
	tests := []struct {
		name, uuid string
		meta       policy.Policy
		want       policy.Policy
	}{
		{"other", "x", policy.Policy{}, policy.Policy{}},
		{"db-1", "x", policy.Policy{}, policy.Policy{Enabled: &f}},
		{"db-1", "x", policy.Policy{Enabled: &tr}, policy.Policy{Enabled: &tr}},
		{"web-1", "x", policy.Policy{Targets: addrs("192.0.2.2", "192.0.2.1")}, policy.Policy{Interval: 2 * time.Minute, Targets: addrs("192.0.2.1", "192.0.2.2")}},
		{"web-1", "x", policy.Policy{Interval: time.Minute}, policy.Policy{Interval: time.Minute, Targets: addrs("192.0.2.1")}},
		{"test", "6695eb01-f6a4-8304-79aa-97f2502e193f", policy.Policy{}, policy.Policy{Interval: 30 * time.Second}},
		{"batch-1", "x", policy.Policy{}, policy.Policy{RetryInterval: time.Minute}},
		{"batch-1", "x", policy.Policy{RetryInterval: 5 * time.Second}, policy.Policy{RetryInterval: 5 * time.Second}},
		{"web-1", "x", policy.Policy{RetryInterval: 20 * time.Second}, policy.Policy{Interval: 2 * time.Minute, RetryInterval: 20 * time.Second, Targets: addrs("192.0.2.1")}},
	}
	for _, tt := range tests {
		got := cfg.PolicyFor(tt.name, tt.uuid, tt.meta)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PolicyFor(%q, %+v) = %+v, want %+v", tt.name, tt.meta, got, tt.want)
		}
	}
	if got := (policy.Policy{Enabled: &f}); !got.Disabled() {
		t.Errorf("Policy{Enabled: false}.Disabled() = false")
	}
}

func TestParseConfigPolicies(t *testing.T) {
	cfg, err := ParseConfig([]byte("policies:\n  - match: \"db-*\"\n    enabled: false\n  - match: web-1\n    interval: 2m\n    targets: [192.0.2.1]\n"))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if len(cfg.Policies) != 2 || !cfg.Policies[0].Policy().Disabled() || cfg.Policies[1].Interval != config.Duration(2*time.Minute) {
		t.Errorf("policies = %+v", cfg.Policies)
	}
	for _, bad := range []string{
		"policies:\n  - enabled: false\n",
		"policies:\n  - match: a\n    retry_interval: 1s\n",
		"policies:\n  - match: \"[\"\n",
		"policies:\n  - match: a\n    interval: 1s\n",
		"policies:\n  - match: a\n    targets: [0.0.0.0]\n",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "policies[0]") {
			t.Errorf("ParseConfig(%q) = %v, want an error naming policies[0]", bad, err)
		}
	}
}

func TestParseConfigPolicyRetryInterval(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       time.Duration
		wantErr    string
	}{
		{"set", "policies:\n  - match: db-*\n    retry_interval: 5s\n", 5 * time.Second, ""},
		{"with an interval", "policies:\n  - match: db-*\n    interval: 5m\n    retry_interval: 30s\n", 30 * time.Second, ""},
		{"unset", "policies:\n  - match: db-*\n", 0, ""},
		{"too short", "policies:\n  - match: db-*\n    retry_interval: 1s\n", 0, "policies[0].retry_interval: 1s is not between 5s and 24h0m0s"},
		{"too long", "policies:\n  - match: a\n  - match: db-*\n    retry_interval: 25h\n", 0, "policies[1].retry_interval: 25h0m0s is not between 5s and 24h0m0s"},
		{"negative", "policies:\n  - match: db-*\n    retry_interval: -10s\n", 0, "policies[0].retry_interval: -10s is not between"},
		{"not a duration", "policies:\n  - match: db-*\n    retry_interval: soon\n", 0, `line 3: policies[0].retry_interval: "soon" is not a duration such as "30s"`},
		{"misspelt", "policies:\n  - match: db-*\n    retry_intervall: 5s\n", 0, `line 3: unknown key "policies[0].retry_intervall" (did you mean "retry_interval"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseConfig(%q) error = %v, want it to contain %q", tt.yaml, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%q): %v", tt.yaml, err)
			}
			if got := cfg.PolicyFor("db-1", "", policy.Policy{}).RetryInterval; got != tt.want {
				t.Errorf("ParseConfig(%q): db-1's retry interval = %s, want %s", tt.yaml, got, tt.want)
			}
		})
	}
}

func TestListTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"unset", 0, MinListTimeout},
		{"default", DefaultTimeout, 30 * time.Second},
		{"short check deadline keeps the floor", 5 * time.Second, MinListTimeout},
		{"long check deadline lengthens the listing's", 2 * time.Minute, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Timeout: config.Duration(tt.timeout)}
			if got := cfg.ListTimeout(); got != tt.want {
				t.Errorf("Config{Timeout: %s}.ListTimeout() = %s, want %s", tt.timeout, got, tt.want)
			}
		})
	}
}

func TestParseConfigOptIn(t *testing.T) {
	tests := []struct {
		yaml string
		want bool
	}{
		{"", false},
		{"opt_in: false", false},
		{"opt_in: true", true},
	}
	for _, tt := range tests {
		cfg, err := ParseConfig([]byte(tt.yaml))
		if err != nil || cfg.OptIn != tt.want {
			t.Errorf("ParseConfig(%q) = OptIn %v, %v; want %v", tt.yaml, cfg.OptIn, err, tt.want)
		}
	}
	if _, err := ParseConfig([]byte("opt_in: maybe")); err == nil {
		t.Error(`ParseConfig("opt_in: maybe") accepted a non-boolean`)
	}
}
func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}
