package checker

import "testing"

func BenchmarkVerdict(b *testing.B) {
	for _, bc := range []struct {
		name   string
		probes []ProbeResult
	}{
		{"ok", []ProbeResult{
			{Kind: ProbeExternal, Target: "203.0.113.10", Status: ProbePassed, OK: true},
			{Kind: ProbeGateway, Target: "192.0.2.1", Status: ProbePassed, OK: true},
		}},
		{"degraded", []ProbeResult{
			{Kind: ProbeExternal, Target: "203.0.113.10", Status: ProbeFailed, Error: "no reply"},
			{Kind: ProbeGateway, Target: "192.0.2.1", Status: ProbePassed, OK: true},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				verdict(bc.probes)
			}
		})
	}
}
