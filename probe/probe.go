// Package probe holds vmcheck's detection methods: what a VM's policy may
// ask to be tested from inside the guest, each method in a file of its own
// (icmp.go, mtu.go, dns.go, tcp.go, http.go) that registers itself in the
// table with its spec validation, its guest command per OS family, the
// parser of that command's exit status and the cause it reports.
//
// The engine (package checker) knows methods only through this table:
// adding a method is adding one file and its tests.
package probe

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// MaxProbes bounds the probes of one VM's policy: each is at least one
// guest command per check and a few metric series.
const MaxProbes = 8

// OutputLimit caps what a method keeps of one guest command's stdout or
// stderr: the tools print a few hundred bytes; anything more is noise or
// abuse.
const OutputLimit = 64 << 10

// maxText caps the texts of a Result taken from a guest.
const maxText = 200

// Status is the outcome of one probe.
type Status string

// Probe outcomes.
const (
	// Passed: the probe got what it asked for, within its thresholds.
	Passed Status = "ok"
	// Degraded: the probe passed, but a measured value reached the warning
	// level of a threshold.
	Degraded Status = "degraded"
	// Failed: the probe ran and what it tested does not work (or a
	// threshold was crossed).
	Failed Status = "failed"
	// Error: the probe could not tell (timeout, agent error, output it
	// cannot read).
	Error Status = "error"
	// Unavailable: the guest lacks the tool the method needs, or its OS
	// family cannot do the method; never a verdict on the network.
	Unavailable Status = "unavailable"
)

var _ = cause.Register(cause.HighLatency, "round trips take longer than the policy's max_rtt (a congested path, a distant route, an overloaded node)")

// Result is what one probe learned. The engine turns it into a
// model.ProbeResult; every string is sanitised there.
type Result struct {
	Method string
	// Target is what was probed: an address, a name, host:port or a URL,
	// from the operator's spec or the VM's gateways, never from the guest.
	Target string
	// Gateway is set when Target is a gateway of the VM.
	Gateway bool
	Status  Status
	Measure Measure
	// Cause and Detail name the cause when the probe did not pass (or
	// passed degraded), with its evidence and remedy.
	Cause  cause.Cause
	Detail string
	// Error says why the probe did not pass, in a few words.
	Error string
}

// Measure holds what a probe measured; zero values were not measured.
type Measure struct {
	Sent, Received int
	// Loss is the ratio of echo requests without a reply (icmp).
	Loss *float64
	// RTT is the round-trip (icmp) or connect (tcp) or total (http) time.
	RTT, RTTMin, RTTMax time.Duration
	// NICMTU is the guest NIC's MTU; PathMTU the largest packet that
	// passed with don't-fragment set (mtu).
	NICMTU, PathMTU int
	// HTTPStatus is the status code an HTTP probe got.
	HTTPStatus int
	// Addrs are the addresses a name resolved to (dns), at most 8.
	Addrs []netip.Addr
}

// Env is what a method may use of the VM being checked.
type Env struct {
	// Family is the guest's OS family.
	Family osdetect.Family
	// Run starts a command in the guest and waits for it to exit, its
	// output capped at OutputLimit, under ctx's deadline; wait, when
	// positive, also bounds the time from the command's start (the agent's
	// guest-exec reply) to its exit, so a slow agent is not taken for a
	// slow command. A command still running then is an error wrapping
	// guestagent.ErrExecTimeout.
	Run func(ctx context.Context, cmd guestagent.Command, wait time.Duration) (guestagent.ExecStatus, error)
	// External are the VM's external targets; Gateways its gateways,
	// each with the guest interface its default route leaves by.
	External []netip.Addr
	Gateways []Gateway
	// Timeout is how long one in-guest wait (a reply, a connect) may take.
	Timeout time.Duration
	// Memo keeps a value for the rest of the VM's boot; Recall returns it.
	// Both may be nil (nothing is remembered).
	Memo   func(key, value string)
	Recall func(key string) (string, bool)
}

// Gateway is a gateway of the VM and the guest interface that reaches it.
type Gateway struct {
	Addr  netip.Addr
	Iface string
}

// Method is one detection method: an entry of the table.
type Method struct {
	// Validate checks a spec of this method and fills in its defaults;
	// its error names the spec's key (e.g. "count: …").
	Validate func(s *Spec) error
	// Families are the OS families the method has commands for; on any
	// other the probe is Unavailable.
	Families []osdetect.Family
	// Standalone methods use none of the VM's gateways, targets or
	// routes (Env.External and Env.Gateways are empty for them), so the
	// engine starts them as soon as the agent has answered, while it
	// still reads the guest's routes.
	Standalone bool
	// Run runs the probe in the guest. Methods the engine fans out over
	// the VM's gateways and external targets (icmp) leave it nil and set
	// Command and Parse instead.
	Run func(ctx context.Context, env *Env, s Spec) []Result
	// Command and Parse are one echo to target and its reading (icmp).
	Command func(f osdetect.Family, target netip.Addr, timeout time.Duration, s Spec) (guestagent.Command, error)
	Parse   func(f osdetect.Family, target netip.Addr, st guestagent.ExecStatus, s Spec) Result
}

var methods = map[string]Method{}

// register adds a method; a name taken twice or a method with neither
// Run nor Command is a programming error.
func register(name string, m Method) {
	if _, dup := methods[name]; dup || name == "" {
		panic(fmt.Sprintf("probe: method %q registered twice or unnamed", name))
	}
	if m.Validate == nil || (m.Run == nil && (m.Command == nil || m.Parse == nil)) {
		panic(fmt.Sprintf("probe: method %q lacks Validate, or both Run and Command/Parse", name))
	}
	methods[name] = m
}

// Lookup returns the method of that name.
func Lookup(name string) (Method, bool) {
	m, ok := methods[name]
	return m, ok
}

// Names lists the registered methods, sorted.
func Names() []string {
	out := make([]string, 0, len(methods))
	for n := range methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IsStandalone reports whether the spec's method is Standalone.
func (s Spec) IsStandalone() bool {
	m, ok := Lookup(s.Method)
	return ok && m.Standalone
}

// Supports reports whether the method has commands for family f.
func (m Method) Supports(f osdetect.Family) bool { return slices.Contains(m.Families, f) }

// RunSpec runs one spec in the guest: Unavailable when the method has no
// command for the guest's family. It is the engine's one door into Run.
func RunSpec(ctx context.Context, env *Env, s Spec) []Result {
	m, ok := Lookup(s.Method)
	if !ok || m.Run == nil {
		return []Result{{Method: s.Method, Target: s.Label(), Status: Error, Error: "not a method that runs on its own"}}
	}
	if !m.Supports(env.Family) {
		return []Result{{Method: s.Method, Target: s.Label(), Status: Unavailable,
			Error: fmt.Sprintf("the %s method has no command for %s guests", s.Method, env.Family)}}
	}
	return m.Run(ctx, env, s)
}
