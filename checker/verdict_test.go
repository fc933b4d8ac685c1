package checker

import (
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

func TestVerdict(t *testing.T) {
	pass := model.ProbeResult{Kind: model.ProbeGateway, Target: "192.0.2.1", Status: model.ProbePassed, OK: true}
	fail := model.ProbeResult{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbeFailed, Error: "no reply"}
	errp := model.ProbeResult{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbeError, Error: "timed out"}
	nc := model.ProbeResult{Kind: model.ProbeExternal, Status: model.ProbeNotConfigured}
	tests := []struct {
		name       string
		probes     []model.ProbeResult
		want       model.State
		wantReason string
	}{
		{"all pass", []model.ProbeResult{pass, pass}, model.StateOK, ""},
		{"pass and not configured", []model.ProbeResult{nc, pass}, model.StateOK, ""},
		{"some fail", []model.ProbeResult{pass, fail}, model.StateDegraded, "external 203.0.113.10: no reply"},
		{"all fail", []model.ProbeResult{fail}, model.StateDown, "no reply"},
		{"fail and error", []model.ProbeResult{fail, errp}, model.StateDown, "timed out"},
		{"only errors", []model.ProbeResult{pass, errp}, model.StateUnknown, "timed out"},
		{"nothing", []model.ProbeResult{nc}, model.StateUnknown, "nothing to probe"},
		{"empty", nil, model.StateUnknown, "nothing to probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := verdict(tt.probes)
			if got != tt.want || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("verdict = %q, %q; want %q, containing %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}
