package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/checker"
)

// fakeHost is a hypervisor whose domains, events and connection state a
// test controls.
type fakeHost struct {
	mu       sync.Mutex
	doms     []checker.Domain
	events   chan checker.Event
	broken   chan struct{} // closed: the current connection breaks
	refuse   bool          // Connect fails
	connects int
	// closeHang, when set, makes Close block until it is closed, as with
	// a hung libvirtd.
	closeHang chan struct{}
}

func newFakeHost(names ...string) *fakeHost {
	h := &fakeHost{events: make(chan checker.Event, 16), broken: make(chan struct{})}
	for _, n := range names {
		h.add(n)
	}
	return h
}

func uuidOf(name string) string {
	var sum int
	for _, c := range name {
		sum = sum*31 + int(c)
	}
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", sum&0xffffffffffff)
}

func (h *fakeHost) add(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.doms = append(h.doms, checker.Domain{Name: name, UUID: uuidOf(name), State: checker.Running, BootID: name})
}

func (h *fakeHost) remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, d := range h.doms {
		if d.Name == name {
			h.doms = append(h.doms[:i], h.doms[i+1:]...)
			return
		}
	}
}

func (h *fakeHost) connect(context.Context) (Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connects++
	if h.refuse {
		return nil, errors.New("connection refused")
	}
	return &fakeConn{h: h, broken: h.broken, hang: h.closeHang}, nil
}

type fakeConn struct {
	h      *fakeHost
	broken chan struct{}
	hang   chan struct{}
}

func (c *fakeConn) Domains(context.Context) ([]checker.Domain, error) {
	select {
	case <-c.broken:
		return nil, errors.New("connection is broken")
	default:
	}
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	return append([]checker.Domain(nil), c.h.doms...), nil
}

func (c *fakeConn) Watch(ctx context.Context, fn func(checker.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.broken:
			return fmt.Errorf("fake: %w", checker.ErrConnectionClosed)
		case ev := <-c.h.events:
			fn(ev)
		}
	}
}

func (c *fakeConn) Close() error {
	if c.hang != nil {
		<-c.hang
	}
	return nil
}

// fakeEngine checks a domain by asking verdict; a domain named "hang"
// blocks until its context ends.
type fakeEngine struct {
	mu      sync.Mutex
	verdict map[string]checker.State
	checks  map[string]int
}

func (e *fakeEngine) Select(ctx context.Context, src checker.Source) ([]checker.Domain, error) {
	return src.Domains(ctx)
}

func (e *fakeEngine) Check(ctx context.Context, d checker.Domain) checker.Result {
	e.mu.Lock()
	e.checks[d.Name]++
	v := e.verdict[d.Name]
	e.mu.Unlock()
	if d.Name == "hang" {
		<-ctx.Done()
		return checker.Result{Name: d.Name, UUID: d.UUID, State: checker.StateUnknown, CheckedAt: time.Now(), Reason: "deadline"}
	}
	if v == "" {
		v = checker.StateOK
	}
	return checker.Result{Name: d.Name, UUID: d.UUID, State: v, CheckedAt: time.Now()}
}

func (e *fakeEngine) Forget(map[string]bool) {}

func (e *fakeEngine) Config() checker.Config {
	return checker.Config{Concurrency: 4, Timeout: checker.Duration(time.Minute)}
}

func (e *fakeEngine) count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checks[name]
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{verdict: map[string]checker.State{}, checks: map[string]int{}}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startRunner(t *testing.T, host *fakeHost, eng *fakeEngine, hist *History) (stop func()) {
	t.Helper()
	r := &Runner{
		Connect: host.connect, Engine: eng, History: hist, Interval: time.Hour,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Settle: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	}
}

func known(h *History, name string) bool {
	_, ok := h.Snapshot().Lookup(uuidOf(name))
	return ok
}

func TestRunnerRoundsAndEvents(t *testing.T) {
	host, eng, hist := newFakeHost("a", "b"), newFakeEngine(), NewHistory(3)
	stop := startRunner(t, host, eng, hist)
	defer stop()

	eventually(t, "the first round", func() bool { return known(hist, "a") && known(hist, "b") })
	eventually(t, "the round's metrics", func() bool { s := hist.Snapshot(); return s.LibvirtUp && s.Round.Domains == 2 })

	// A new VM is checked at once, not an hour later.
	host.add("c")
	host.events <- checker.Event{Kind: checker.EventStarted, Name: "c", UUID: uuidOf("c")}
	eventually(t, "the new VM's check", func() bool { return known(hist, "c") })

	// An agent that connects gets its VM checked again.
	host.events <- checker.Event{Kind: checker.EventAgentConnected, Name: "a", UUID: uuidOf("a")}
	eventually(t, "the recheck after agent connect", func() bool { return eng.count("a") == 2 })
	if n := eng.count("b"); n != 1 {
		t.Errorf("b checked %d times, want 1 (the interval is an hour)", n)
	}

	// A VM that is gone loses its entry.
	host.remove("b")
	host.events <- checker.Event{Kind: checker.EventStopped, Name: "b", UUID: uuidOf("b")}
	eventually(t, "b to be forgotten", func() bool { return !known(hist, "b") })
}

func TestRunnerReconnects(t *testing.T) {
	host, eng, hist := newFakeHost("a"), newFakeEngine(), NewHistory(3)
	stop := startRunner(t, host, eng, hist)
	defer stop()
	eventually(t, "the first round", func() bool { return known(hist, "a") })

	// libvirt goes away: the last results stay, libvirt_up drops.
	host.mu.Lock()
	host.refuse = true
	close(host.broken)
	host.broken = make(chan struct{})
	host.mu.Unlock()
	eventually(t, "libvirt_up 0", func() bool { return !hist.Snapshot().LibvirtUp })
	if !known(hist, "a") {
		t.Errorf("the last result must stay served while libvirt is down")
	}
	eventually(t, "a few reconnection attempts", func() bool {
		host.mu.Lock()
		defer host.mu.Unlock()
		return host.connects >= 3
	})

	// libvirt is back.
	host.mu.Lock()
	host.refuse = false
	host.mu.Unlock()
	eventually(t, "libvirt_up 1", func() bool { return hist.Snapshot().LibvirtUp })
}

func TestRunnerStopsWithCheckInFlight(t *testing.T) {
	host, eng, hist := newFakeHost("a", "hang"), newFakeEngine(), NewHistory(3)
	stop := startRunner(t, host, eng, hist)
	eventually(t, "a's check", func() bool { return known(hist, "a") })
	eventually(t, "hang's check to start", func() bool { return eng.count("hang") == 1 })
	start := time.Now()
	stop() // fails the test if Run does not return
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	if known(hist, "hang") {
		t.Errorf("an abandoned check must not be recorded")
	}
}

func TestRunnerDownAfterRounds(t *testing.T) {
	host, eng, hist := newFakeHost("a"), newFakeEngine(), NewHistory(2)
	eng.verdict["a"] = checker.StateDown
	r := &Runner{Connect: host.connect, Engine: eng, History: hist, Interval: 30 * time.Millisecond, Settle: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	eventually(t, "two failed rounds", func() bool {
		e, ok := hist.Snapshot().Lookup(uuidOf("a"))
		return ok && e.State == checker.StateDown && e.ConsecutiveFailures >= 2
	})
}

func TestRunnerNeedsParts(t *testing.T) {
	if err := (&Runner{}).Run(context.Background()); err == nil {
		t.Errorf("Run on an empty Runner = nil, want an error")
	}
}

func TestRunnerPolicyInterval(t *testing.T) {
	host, eng, hist := newFakeHost("fast"), newFakeEngine(), NewHistory(3)
	host.add("slow")
	host.doms[1].Policy.Interval = 400 * time.Millisecond
	r := &Runner{Connect: host.connect, Engine: eng, History: hist, Interval: 20 * time.Millisecond, Settle: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	time.Sleep(time.Second)
	cancel()
	<-done
	fast, slow := eng.count("fast"), eng.count("slow")
	if slow < 2 || slow > 4 || fast < 3*slow {
		t.Errorf("checked fast %d times and slow %d times in 1s; want slow every 400ms (2–4) and fast every round", fast, slow)
	}
}

func TestRunnerCoalescesEventFlood(t *testing.T) {
	// A guest reopening its agent port over and over gets one prompt
	// check; the events after it wait for the event interval (an hour
	// here), while another VM's event is still served at once.
	host, eng, hist := newFakeHost("a", "b"), newFakeEngine(), NewHistory(3)
	r := &Runner{
		Connect: host.connect, Engine: eng, History: hist, Interval: time.Hour, Settle: time.Millisecond,
		EventInterval: time.Hour,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	eventually(t, "the first round", func() bool { return known(hist, "a") && known(hist, "b") })

	agent := checker.Event{Kind: checker.EventAgentConnected, Name: "a", UUID: uuidOf("a")}
	host.events <- agent
	eventually(t, "the check after the first event", func() bool { return eng.count("a") == 2 })
	for range 50 {
		host.events <- agent
	}
	host.add("c")
	host.events <- checker.Event{Kind: checker.EventStarted, Name: "c", UUID: uuidOf("c")}
	eventually(t, "the new VM's check", func() bool { return known(hist, "c") })
	host.events <- checker.Event{Kind: checker.EventAgentConnected, Name: "b", UUID: uuidOf("b")}
	eventually(t, "b's check after its first event", func() bool { return eng.count("b") == 2 })
	if n := eng.count("a"); n != 2 {
		t.Errorf("a checked %d times after 51 agent events, want 2 (one round, one event-triggered check)", n)
	}
}

func TestRunnerCloseTimeout(t *testing.T) {
	// libvirtd hangs: closing the broken connection never returns. The
	// runner logs it, reconnects, and still stops when asked.
	host, eng, hist := newFakeHost("a"), newFakeEngine(), NewHistory(3)
	host.closeHang = make(chan struct{})
	defer close(host.closeHang)
	log, hook := logtest.NewNullLogger()
	r := &Runner{
		Connect: host.connect, Engine: eng, History: hist, Interval: time.Hour, Log: log,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, CloseTimeout: time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the first round", func() bool { return known(hist, "a") })
	host.mu.Lock()
	close(host.broken)
	host.broken = make(chan struct{})
	host.mu.Unlock()
	eventually(t, "a reconnection despite the hung close", func() bool {
		host.mu.Lock()
		defer host.mu.Unlock()
		return host.connects >= 2
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return while closing the connection hangs")
	}
	warned := false
	for _, e := range hook.AllEntries() {
		warned = warned || strings.Contains(e.Message, "closing the libvirt connection did not finish")
	}
	if !warned {
		t.Errorf("no warning about the hung close")
	}
}
