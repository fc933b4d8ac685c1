package schedule

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// SetMemoryTarget gives the runtime a limit that grows with the domains,
// and leaves an operator's GOMEMLIMIT alone.
func TestSetMemoryTarget(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	if got := SetMemoryTarget(1000); got != MemoryTarget(1000) || got != 20<<20+1000*24<<10 {
		t.Errorf("1000 domains: limit %d, want %d", got, MemoryTarget(1000))
	}
	if MemoryTarget(5000) <= MemoryTarget(1000) || MemoryTarget(-1) != MemoryTarget(0) {
		t.Errorf("targets: %d for 5000, %d for 1000, %d for -1", MemoryTarget(5000), MemoryTarget(1000), MemoryTarget(-1))
	}
	// More live than the target: the limit follows what is live, so
	// the collector never runs without pause.
	live := make([]byte, 64<<20)
	for i := range live {
		live[i] = 1
	}
	runtime.GC()
	if got := SetMemoryTarget(10); got < 80<<20 {
		t.Errorf("64 MiB live, 10 domains: limit %d, want at least 5/4 of what is live", got)
	}
	runtime.KeepAlive(live)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := SetMemoryTarget(1000); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: limit %d, want it untouched", got)
	}
}
