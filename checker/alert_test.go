package checker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/settings"
)

// TestCheckCarriesAlertPolicy: every result of Check, the JSON report's
// included, says whom its alerts go to, whatever the check found.
func TestCheckCarriesAlertPolicy(t *testing.T) {
	d := model.Domain{Name: "web-1", UUID: "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01", State: model.Paused,
		Policy: policy.Policy{Alert: policy.Alert{Notify: policy.NotifyTenant, Receiver: "shop-hooks"}}, Nova: model.Nova{Project: "shop"}}
	r := New(settings.Config{}).Check(t.Context(), d)
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
