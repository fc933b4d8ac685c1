// Package cause is the vocabulary of the probe methods' findings: each
// cause a method names when its probe did not pass, with what it means and
// what to do in one plain sentence. The methods register their causes
// (Register, from their own file or package); the engine adds every
// registered cause to its closed set of diagnosis codes, at the network
// layer (a probe measures the path from the guest), and the outputs say
// it in its registered words (Plain).
package cause

import (
	"fmt"
	"slices"
	"sync"
)

// Cause is the diagnosis code a probe names when it did not pass.
type Cause string

// Causes the methods of package probe report; each method's file
// registers those it names, the shared HighLatency in probe.go.
const (
	PacketLoss       Cause = "packet_loss"
	HighLatency      Cause = "high_latency"
	PathMTUBlackhole Cause = "path_mtu_blackhole"
	DNSFailure       Cause = "dns_failure"
	TCPRefused       Cause = "tcp_refused"
	TCPFiltered      Cause = "tcp_filtered"
	HTTPFailure      Cause = "http_failure"
)

var (
	mu    sync.RWMutex
	plain = map[Cause]string{}
)

// Register adds a cause a method names, with what it means and what to do
// in one plain sentence; a cause registered twice with other words, an
// empty cause or empty words are programming errors. It returns c, so
// that a method's file registers its causes in a package-level var.
func Register(c Cause, words string) Cause {
	mu.Lock()
	defer mu.Unlock()
	if old, dup := plain[c]; (dup && old != words) || c == "" || words == "" {
		panic(fmt.Sprintf("cause: %q registered twice, unnamed or without words", c))
	}
	plain[c] = words
	return c
}

// All lists every registered cause, sorted.
func All() []Cause {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Cause, 0, len(plain))
	for c := range plain {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Plain is the plain sentence of a registered cause.
func Plain(c Cause) (string, bool) {
	mu.RLock()
	defer mu.RUnlock()
	w, ok := plain[c]
	return w, ok
}
