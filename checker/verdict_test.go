package checker

import (
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	pass := ProbeResult{Kind: ProbeGateway, Target: "192.0.2.1", Status: ProbePassed, OK: true}
	fail := ProbeResult{Kind: ProbeExternal, Target: "203.0.113.10", Status: ProbeFailed, Error: "no reply"}
	errp := ProbeResult{Kind: ProbeExternal, Target: "203.0.113.10", Status: ProbeError, Error: "timed out"}
	nc := ProbeResult{Kind: ProbeExternal, Status: ProbeNotConfigured}
	tests := []struct {
		name       string
		probes     []ProbeResult
		want       State
		wantReason string
	}{
		{"all pass", []ProbeResult{pass, pass}, StateOK, ""},
		{"pass and not configured", []ProbeResult{nc, pass}, StateOK, ""},
		{"some fail", []ProbeResult{pass, fail}, StateDegraded, "external 203.0.113.10: no reply"},
		{"all fail", []ProbeResult{fail}, StateDown, "no reply"},
		{"fail and error", []ProbeResult{fail, errp}, StateDown, "timed out"},
		{"only errors", []ProbeResult{pass, errp}, StateUnknown, "timed out"},
		{"nothing", []ProbeResult{nc}, StateUnknown, "nothing to probe"},
		{"empty", nil, StateUnknown, "nothing to probe"},
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
