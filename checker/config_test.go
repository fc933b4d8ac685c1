package checker

import (
	"net/netip"
	"strings"
	"testing"
	"time"
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
		{"ping not inside timeout", "timeout: 3s\nping_timeout: 2s", "ping_timeout: 2s must be at most half of timeout"},
		{"concurrency", "concurrency: 100000", "concurrency: must be between 1 and 256"},
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
		if msg := err.Error(); strings.ContainsAny(msg, "\n") || strings.Contains(msg, "checker.") || strings.Contains(msg, "netip") || strings.Contains(msg, "[]") {
			t.Errorf("ParseConfig(%q) error = %q: Go types or several lines", y, msg)
		}
	}
}
