package checker_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

var benchExternal = netip.MustParseAddr("203.0.113.10")

// zeroLatency makes the simulated agents answer at once, so that a
// benchmark measures vmcheck's own CPU and allocations per check (plus the
// simulator's reply building, a small fixed share).
var zeroLatency = &sim.Latency{}

func benchChecker(concurrency int) *checker.Checker {
	return checker.New(settings.Config{
		External:    []netip.Addr{benchExternal},
		Timeout:     config.Duration(10 * time.Second),
		PingTimeout: config.Duration(2 * time.Second),
		Concurrency: concurrency,
	})
}

// BenchmarkCheck checks one healthy simulated Debian domain: guest-ping,
// guest-info, guest-get-osinfo (cold) or the cached OS (warm), interfaces,
// the two route files, two pings and their status.
func BenchmarkCheck(b *testing.B) {
	for _, warm := range []bool{false, true} {
		b.Run(map[bool]string{false: "cold", true: "warm"}[warm], func(b *testing.B) {
			doms, _ := sim.Fleet(sim.FleetConfig{N: 1, External: benchExternal, Latency: zeroLatency})
			c := benchChecker(1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if !warm {
					c.Forget(nil)
				}
				if r := c.Check(ctx, doms[0]); r.State != model.StateOK {
					b.Fatalf("state %s: %s", r.State, r.Reason)
				}
			}
		})
	}
}

// BenchmarkCheckAll checks 1000 simulated domains per op with the default
// concurrency; ns/op ÷ 1000 is the engine's cost per check.
func BenchmarkCheckAll(b *testing.B) {
	doms, _ := sim.Fleet(sim.FleetConfig{N: 1000, External: benchExternal, Latency: zeroLatency, BusyboxEvery: 10})
	c := benchChecker(0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rs := c.CheckAll(ctx, doms)
		if len(rs) != len(doms) || rs[0].State != model.StateOK {
			b.Fatalf("%d results, first %s: %s", len(rs), rs[0].State, rs[0].Reason)
		}
	}
}
