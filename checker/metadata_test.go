package checker

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
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

type listSource []model.Domain

func (s listSource) Domains(context.Context) ([]model.Domain, error) { return s, nil }

func TestSelectAppliesPolicy(t *testing.T) {
	f := false
	src := listSource{
		{Name: "web-1", UUID: "u1"},
		{Name: "web-2", UUID: "u2", Policy: policy.Policy{Enabled: &f}},
		{Name: "db-1", UUID: "u3", Policy: policy.Policy{Targets: addrs("192.0.2.9")}},
		{Name: "db-2", UUID: "u4"},
	}
	c := New(Config{Policies: []policy.Rule{{Match: "db-2", Enabled: &f}, {Match: "db-*", Interval: config.Duration(time.Minute)}}})
	doms, err := c.Select(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
	}
	if want := []string{"web-1", "db-1"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Select = %v, want %v", names, want)
	}
	if want := (policy.Policy{Interval: time.Minute, Targets: addrs("192.0.2.9")}); !reflect.DeepEqual(doms[1].Policy, want) {
		t.Errorf("db-1 policy = %+v, want %+v", doms[1].Policy, want)
	}
}

func TestPlanProbesPolicyTargets(t *testing.T) {
	c := New(Config{External: addrs("203.0.113.10")})
	plan := c.planProbes(nil, nil, addrs("198.51.100.7", "203.0.113.10", "2001:db8::7"))
	var got []string
	for _, p := range plan {
		got = append(got, string(p.res.Kind)+" "+p.res.Target)
	}
	want := []string{"external 203.0.113.10", "external 198.51.100.7", "external 2001:db8::7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("planProbes = %v, want %v", got, want)
	}
	if len(c.cfg.External) != 1 {
		t.Errorf("planProbes changed the config's external targets: %v", c.cfg.External)
	}
	// A policy target alone is enough: no "not configured" probe.
	plan = New(Config{}).planProbes(nil, nil, addrs("198.51.100.7"))
	if len(plan) != 1 || plan[0].res.Status == model.ProbeNotConfigured {
		t.Errorf("planProbes with only a policy target = %+v", plan)
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
