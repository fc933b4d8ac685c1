package output

import (
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

func TestProbeText(t *testing.T) {
	tests := []struct {
		name          string
		p             model.ProbeResult
		unit          RTTUnit
		outcome, summ string
	}{
		{"reply with rtt", model.ProbeResult{Target: "203.0.113.10", Status: model.ProbePassed, RTT: 0.00123},
			Tight, "ok 1.2ms", "203.0.113.10 ok 1.2ms"},
		{"reply with rtt, spaced", model.ProbeResult{Target: "203.0.113.10", Status: model.ProbePassed, RTT: 0.00123},
			Spaced, "ok 1.2 ms", "203.0.113.10 ok 1.2 ms"},
		{"reply without rtt", model.ProbeResult{Target: "192.0.2.1", Status: model.ProbePassed}, Tight, "ok", "192.0.2.1 ok"},
		{"failed", model.ProbeResult{Target: "192.0.2.1", Status: model.ProbeFailed}, Tight, "failed", "192.0.2.1 failed"},
		{"error", model.ProbeResult{Target: "2001:db8::1", Status: model.ProbeError}, Spaced, "error", "2001:db8::1 error"},
		{"not configured", model.ProbeResult{Status: model.ProbeNotConfigured}, Tight, "not_configured", "not configured"},
		{"address held", model.ProbeResult{Kind: model.ProbeAddress, Target: "192.0.2.11", Status: model.ProbePassed}, Tight, "ok", "192.0.2.11 ok"},
		{"address missing", model.ProbeResult{Kind: model.ProbeAddress, Target: "192.0.2.11", Status: model.ProbeFailed}, Tight, "missing", "192.0.2.11 missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProbeOutcome(tt.p, tt.unit); got != tt.outcome {
				t.Errorf("ProbeOutcome(%+v, %q) = %q, want %q", tt.p, tt.unit, got, tt.outcome)
			}
			if got := ProbeSummary(tt.p, tt.unit); got != tt.summ {
				t.Errorf("ProbeSummary(%+v, %q) = %q, want %q", tt.p, tt.unit, got, tt.summ)
			}
		})
	}
}

func TestOSText(t *testing.T) {
	tests := []struct {
		os            model.OSResult
		text, version string
	}{
		{model.OSResult{Family: "linux", ID: "debian", Version: "12"}, "linux/debian", "linux/debian 12"},
		{model.OSResult{Family: "windows", ID: "mswindows"}, "windows/mswindows", "windows/mswindows"},
		{model.OSResult{Family: "linux", Version: "5"}, "linux", "linux 5"},
		{model.OSResult{Family: "unknown"}, "unknown", "unknown"},
	}
	for _, tt := range tests {
		if got := OSText(tt.os); got != tt.text {
			t.Errorf("OSText(%+v) = %q, want %q", tt.os, got, tt.text)
		}
		if got := OSTextVersion(tt.os); got != tt.version {
			t.Errorf("OSTextVersion(%+v) = %q, want %q", tt.os, got, tt.version)
		}
	}
}
