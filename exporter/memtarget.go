package exporter

import (
	"os"
	"runtime/debug"
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
)

// MemoryTarget is the soft memory limit for a node of n domains: 20 MiB
// and 24 KiB per domain (43 MiB for 1000). It bounds the Go runtime's
// memory, not the binary and the shared libraries mapped beside it.
func MemoryTarget(n int) int64 {
	return memBase + int64(max(n, 0))*memPerDomain
}

// SetMemoryTarget sets the Go runtime's soft memory limit to
// MemoryTarget(n), unless the environment sets GOMEMLIMIT (the operator's
// word wins), and returns the limit now in force. It is soft: when what
// is live needs more, the runtime takes it, and spends at most about half
// the CPU on collecting first.
func SetMemoryTarget(n int) int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryTarget(n))
	}
	return debug.SetMemoryLimit(-1) // reads the limit in force
}
