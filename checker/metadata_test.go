package checker

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseDomainXMLMetadata(t *testing.T) {
	f := false
	tests := []struct {
		file       string
		wantPolicy Policy
		wantNova   Nova
	}{
		{"virsh-set.xml", Policy{Enabled: &f, Interval: 90 * time.Second, Targets: addrs("203.0.113.20", "2001:db8::20")}, Nova{}},
		{"nova.xml", Policy{Interval: 2 * time.Minute, Targets: addrs("198.51.100.7")}, Nova{Instance: "web-01 (shop)", Project: "shop"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := ParseDomainXML(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParseDomainXML: %v", err)
			}
			if !reflect.DeepEqual(d.Policy, tt.wantPolicy) {
				t.Errorf("Policy = %+v, want %+v", d.Policy, tt.wantPolicy)
			}
			if d.Nova != tt.wantNova {
				t.Errorf("Nova = %+v, want %+v", d.Nova, tt.wantNova)
			}
			if len(d.NICs) != 1 {
				t.Errorf("NICs = %d, want 1 (metadata must not disturb the rest)", len(d.NICs))
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	tr := true
	const ns = `xmlns:vmcheck="https://vmcheck.dev/xmlns/1"`
	tests := []struct {
		name      string
		xml       string
		want      Policy
		wantError string
	}{
		{"empty", ``, Policy{}, ""},
		{"other namespaces only", `<app:x xmlns:app="http://example.com/app"><app:y>1</app:y></app:x>`, Policy{}, ""},
		{"enabled", `<vmcheck:check ` + ns + ` enabled="true"/>`, Policy{Enabled: &tr}, ""},
		{"children without namespace", `<vmcheck:check ` + ns + `><target>192.0.2.7</target></vmcheck:check>`, Policy{Targets: addrs("192.0.2.7")}, ""},
		{"default namespace", `<check xmlns="https://vmcheck.dev/xmlns/1" interval="10s"><target> 192.0.2.8 </target></check>`,
			Policy{Interval: 10 * time.Second, Targets: addrs("192.0.2.8")}, ""},
		{"wrong namespace ignored", `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/2" enabled="false"/>`, Policy{}, ""},
		{"bad enabled", `<vmcheck:check ` + ns + ` enabled="nope"/>`, Policy{}, "enabled"},
		{"bad interval", `<vmcheck:check ` + ns + ` interval="often"/>`, Policy{}, "interval"},
		{"interval too short", `<vmcheck:check ` + ns + ` interval="1s"/>`, Policy{}, "interval"},
		{"bad target", `<vmcheck:check ` + ns + `><vmcheck:target>gw.example.com</vmcheck:target></vmcheck:check>`, Policy{}, "not an IP address"},
		{"multicast target", `<vmcheck:check ` + ns + `><vmcheck:target>224.0.0.1</vmcheck:target></vmcheck:check>`, Policy{}, "multicast"},
		{"too many targets", `<vmcheck:check ` + ns + `>` + strings.Repeat(`<vmcheck:target>192.0.2.1</vmcheck:target>`, 9) + `</vmcheck:check>`, Policy{}, "at most"},
		{"not well formed", `<vmcheck:check ` + ns + `>`, Policy{}, "XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := ParseMetadata(tt.xml)
			if tt.wantError != "" {
				if !strings.Contains(got.Error, tt.wantError) || got.Enabled != nil || len(got.Targets) != 0 {
					t.Errorf("ParseMetadata(%q) = %+v, want only an error containing %q", tt.xml, got, tt.wantError)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMetadata(%q) = %+v, want %+v", tt.xml, got, tt.want)
			}
		})
	}
}

func TestParseMetadataNovaVersions(t *testing.T) {
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		x := `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/` + v + `"><nova:name>db</nova:name>` +
			`<nova:owner><nova:user uuid="u">alice</nova:user><nova:project uuid="p">payments</nova:project></nova:owner></nova:instance>`
		_, got := ParseMetadata(x)
		if want := (Nova{Instance: "db", Project: "payments"}); got != want {
			t.Errorf("nova %s: ParseMetadata = %+v, want %+v", v, got, want)
		}
	}
}

func TestPolicyFor(t *testing.T) {
	f, tr := false, true
	cfg := Config{Policies: []PolicyRule{
		{Match: "db-*", Enabled: &f},
		{Match: "web-*", Interval: Duration(2 * time.Minute), Targets: addrs("192.0.2.1")},
		{Match: "6695eb01-f6a4-8304-79aa-97f2502e193f", Interval: Duration(30 * time.Second)},
	}}
	tests := []struct {
		name, uuid string
		meta       Policy
		want       Policy
	}{
		{"other", "x", Policy{}, Policy{}},
		{"db-1", "x", Policy{}, Policy{Enabled: &f}},
		{"db-1", "x", Policy{Enabled: &tr}, Policy{Enabled: &tr}},
		{"web-1", "x", Policy{Targets: addrs("192.0.2.2", "192.0.2.1")}, Policy{Interval: 2 * time.Minute, Targets: addrs("192.0.2.1", "192.0.2.2")}},
		{"web-1", "x", Policy{Interval: time.Minute}, Policy{Interval: time.Minute, Targets: addrs("192.0.2.1")}},
		{"test", "6695eb01-f6a4-8304-79aa-97f2502e193f", Policy{}, Policy{Interval: 30 * time.Second}},
	}
	for _, tt := range tests {
		got := cfg.PolicyFor(tt.name, tt.uuid, tt.meta)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PolicyFor(%q, %+v) = %+v, want %+v", tt.name, tt.meta, got, tt.want)
		}
	}
	if got := (Policy{Enabled: &f}); !got.Disabled() {
		t.Errorf("Policy{Enabled: false}.Disabled() = false")
	}
}

func TestParseConfigPolicies(t *testing.T) {
	cfg, err := ParseConfig([]byte("policies:\n  - match: \"db-*\"\n    enabled: false\n  - match: web-1\n    interval: 2m\n    targets: [192.0.2.1]\n"))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if len(cfg.Policies) != 2 || !cfg.Policies[0].Policy().Disabled() || cfg.Policies[1].Interval != Duration(2*time.Minute) {
		t.Errorf("policies = %+v", cfg.Policies)
	}
	for _, bad := range []string{
		"policies:\n  - enabled: false\n",
		"policies:\n  - match: \"[\"\n",
		"policies:\n  - match: a\n    interval: 1s\n",
		"policies:\n  - match: a\n    targets: [0.0.0.0]\n",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "policies[0]") {
			t.Errorf("ParseConfig(%q) = %v, want an error naming policies[0]", bad, err)
		}
	}
}

type listSource []Domain

func (s listSource) Domains(context.Context) ([]Domain, error) { return s, nil }

func TestSelectAppliesPolicy(t *testing.T) {
	f := false
	src := listSource{
		{Name: "web-1", UUID: "u1"},
		{Name: "web-2", UUID: "u2", Policy: Policy{Enabled: &f}},
		{Name: "db-1", UUID: "u3", Policy: Policy{Targets: addrs("192.0.2.9")}},
		{Name: "db-2", UUID: "u4"},
	}
	c := New(Config{Policies: []PolicyRule{{Match: "db-2", Enabled: &f}, {Match: "db-*", Interval: Duration(time.Minute)}}})
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
	if want := (Policy{Interval: time.Minute, Targets: addrs("192.0.2.9")}); !reflect.DeepEqual(doms[1].Policy, want) {
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
	if len(plan) != 1 || plan[0].res.Status == ProbeNotConfigured {
		t.Errorf("planProbes with only a policy target = %+v", plan)
	}
}
