package checker

import (
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

func BenchmarkVerdict(b *testing.B) {
	for _, bc := range []struct {
		name   string
		probes []model.ProbeResult
	}{
		{"ok", []model.ProbeResult{
			{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbePassed, OK: true},
			{Kind: model.ProbeGateway, Target: "192.0.2.1", Status: model.ProbePassed, OK: true},
		}},
		{"degraded", []model.ProbeResult{
			{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbeFailed, Error: "no reply"},
			{Kind: model.ProbeGateway, Target: "192.0.2.1", Status: model.ProbePassed, OK: true},
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
