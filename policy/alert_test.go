package policy

import "testing"

func TestEffectiveAlert(t *testing.T) {
	tests := []struct {
		name    string
		policy  Alert
		project string
		want    Alert
	}{
		{"defaults", Alert{}, "", Alert{Notify: "operator", Severity: "warning"}},
		{"policy tenant", Alert{Notify: "tenant", Tenant: "acme"}, "", Alert{Notify: "tenant", Severity: "warning", Tenant: "acme"}},
		// The platform names the tenant: a policy cannot send a Nova
		// project's alerts to another tenant.
		{"nova project wins", Alert{Notify: "both", Tenant: "other"}, "shop",
			Alert{Notify: "both", Severity: "warning", Tenant: "shop"}},
		{"nova project sanitised", Alert{}, "shop\x1b[31m", Alert{Notify: "operator", Severity: "warning", Tenant: "shop [31m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Policy{Alert: tt.policy}).EffectiveAlert(tt.project); got != tt.want {
				t.Errorf("EffectiveAlert(%+v, %+v) = %+v, want %+v", tt.policy, tt.project, got, tt.want)
			}
		})
	}
}
