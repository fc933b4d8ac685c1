package schedule

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Memory target: serve and cron give the Go runtime a soft memory limit
// (runtime/debug.SetMemoryLimit) sized for the domains they check, so
// that the collector runs before garbage doubles the live heap (Go's
// default, GOGC=100, lets the heap reach twice what is live). What stays
// live grows with the domains: each one's History entry, its metrics and
// the checks in flight, about memPerDomain; memBase is the rest (the
// runtime, the HTTP server, the libvirt connections).
const (
	memBase      = 20 << 20
	memPerDomain = 24 << 10
	// memRecheck is how often serve sets the limit again from what is
	// live (KeepMemoryTarget).
	memRecheck = 5 * time.Second
)

// MemoryTarget is the soft memory limit for a node of n domains: 20 MiB
// and 24 KiB per domain (43 MiB for 1000). It bounds the Go runtime's
// memory, not the binary and the shared libraries mapped beside it.
func MemoryTarget(n int) int64 {
	return memBase + int64(max(n, 0))*memPerDomain
}

// memDomains is the domain count of the last SetMemoryTarget.
var memDomains atomic.Int64

// SetMemoryTarget sets the Go runtime's soft memory limit for n domains
// and returns the limit now in force: MemoryTarget(n), or 5/4 of the live
// heap when more is live (a flood of web connections, a node whose VMs
// need more), so that a live heap above the target never makes the
// collector run without pause. An operator's GOMEMLIMIT in the
// environment wins: then it changes nothing.
func SetMemoryTarget(n int) int64 {
	memDomains.Store(int64(n))
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(max(MemoryTarget(n), liveHeap()*5/4))
	}
	return debug.SetMemoryLimit(-1) // reads the limit in force
}

// KeepMemoryTarget sets the limit again every few seconds, from the
// domains of the last SetMemoryTarget and what is live now, until ctx
// ends.
func KeepMemoryTarget(ctx context.Context) {
	t := time.NewTicker(memRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			SetMemoryTarget(int(memDomains.Load()))
		}
	}
}

// liveHeap is the heap marked live by the last collection.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}
