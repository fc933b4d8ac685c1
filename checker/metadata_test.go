package checker

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/settings"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
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
	c := New(settings.Config{Policies: []policy.Rule{{Match: "db-2", Enabled: &f}, {Match: "db-*", Interval: config.Duration(time.Minute)}}})
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
	c := New(settings.Config{External: addrs("203.0.113.10")})
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
	plan = New(settings.Config{}).planProbes(nil, nil, addrs("198.51.100.7"))
	if len(plan) != 1 || plan[0].res.Status == model.ProbeNotConfigured {
		t.Errorf("planProbes with only a policy target = %+v", plan)
	}
}
