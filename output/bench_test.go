package output_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/settings"
)

// benchResults checks 1000 simulated domains whose agents answer at once.
func benchResults() []model.Result {
	external := netip.MustParseAddr("203.0.113.10")
	doms, _ := sim.Fleet(sim.FleetConfig{N: 1000, External: external, Latency: &sim.Latency{}})
	c := checker.New(settings.Config{
		External:    []netip.Addr{external},
		Timeout:     config.Duration(10 * time.Second),
		PingTimeout: config.Duration(2 * time.Second),
	})
	return c.CheckAll(context.Background(), doms)
}

// BenchmarkWriteJSON renders the JSON report of 1000 domains.
func BenchmarkWriteJSON(b *testing.B) {
	rs := benchResults()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := output.WriteJSON(&buf, rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}

// BenchmarkWriteTable renders the table of 1000 domains.
func BenchmarkWriteTable(b *testing.B) {
	rs := benchResults()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := output.WriteTable(&buf, rs, false); err != nil {
			b.Fatal(fmt.Errorf("table: %w", err))
		}
	}
}
