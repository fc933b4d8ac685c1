package checker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
)

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

// TestCheckCarriesAlertPolicy: every result of Check, the JSON report's
// included, says whom its alerts go to, whatever the check found.
func TestCheckCarriesAlertPolicy(t *testing.T) {
	d := model.Domain{Name: "web-1", UUID: "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01", State: model.Paused,
		Policy: policy.Policy{Alert: policy.Alert{Notify: policy.NotifyTenant, Receiver: "shop-hooks"}}, Nova: model.Nova{Project: "shop"}}
	r := New(Config{}).Check(t.Context(), d)
	want := policy.Alert{Notify: "tenant", Severity: "warning", Receiver: "shop-hooks", Tenant: "shop"}
	if r.Alert == nil || *r.Alert != want {
		t.Fatalf("Check(%s).Alert = %+v, want %+v", d.Name, r.Alert, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if w := `"alert":{"notify":"tenant","severity":"warning","receiver":"shop-hooks","tenant":"shop"}`; !strings.Contains(string(b), w) {
		t.Errorf("JSON result %s lacks %s", b, w)
	}
}
