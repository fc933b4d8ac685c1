package schedule

import (
	"context"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/model"
)

func startRunner(t *testing.T, host *exportertest.FakeHost, eng *exportertest.FakeEngine, hist *history.History) (stop func()) {
	t.Helper()
	r := &Runner{
		Connect: exportertest.ConnectFunc[Conn](host), Engine: eng, History: hist, Interval: time.Hour,
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

func TestRunnerRoundsAndEvents(t *testing.T) {
	host, eng, hist := exportertest.NewFakeHost("a", "b"), exportertest.NewFakeEngine(), history.New(3)
	stop := startRunner(t, host, eng, hist)
	defer stop()

	exportertest.Eventually(t, "the first round", func() bool { return exportertest.Known(hist, "a") && exportertest.Known(hist, "b") })
	exportertest.Eventually(t, "the round's metrics", func() bool { s := hist.Snapshot(); return s.LibvirtUp && s.Round.Domains == 2 })

	// A new VM is checked at once, not an hour later.
	host.Add("c")
	host.Events <- model.Event{Kind: model.EventStarted, Name: "c", UUID: exportertest.UUIDOf("c")}
	exportertest.Eventually(t, "the new VM's check", func() bool { return exportertest.Known(hist, "c") })

	// An agent that connects gets its VM checked again.
	host.Events <- model.Event{Kind: model.EventAgentConnected, Name: "a", UUID: exportertest.UUIDOf("a")}
	exportertest.Eventually(t, "the recheck after agent connect", func() bool { return eng.Count("a") == 2 })
	if n := eng.Count("b"); n != 1 {
		t.Errorf("b checked %d times, want 1 (the interval is an hour)", n)
	}

	// A VM that is gone loses its entry.
	host.Remove("b")
	host.Events <- model.Event{Kind: model.EventStopped, Name: "b", UUID: exportertest.UUIDOf("b")}
	exportertest.Eventually(t, "b to be forgotten", func() bool { return !exportertest.Known(hist, "b") })
}

func TestRunnerReconnects(t *testing.T) {
	host, eng, hist := exportertest.NewFakeHost("a"), exportertest.NewFakeEngine(), history.New(3)
	stop := startRunner(t, host, eng, hist)
	defer stop()
	exportertest.Eventually(t, "the first round", func() bool { return exportertest.Known(hist, "a") })

	// libvirt goes away: the last results stay, libvirt_up drops.
	host.Mu.Lock()
	host.Refuse = true
	close(host.Broken)
	host.Broken = make(chan struct{})
	host.Mu.Unlock()
	exportertest.Eventually(t, "libvirt_up 0", func() bool { return !hist.Snapshot().LibvirtUp })
	if !exportertest.Known(hist, "a") {
		t.Errorf("the last result must stay served while libvirt is down")
	}
	exportertest.Eventually(t, "a few reconnection attempts", func() bool {
		host.Mu.Lock()
		defer host.Mu.Unlock()
		return host.Connects >= 3
	})

	// libvirt is back.
	host.Mu.Lock()
	host.Refuse = false
	host.Mu.Unlock()
	exportertest.Eventually(t, "libvirt_up 1", func() bool { return hist.Snapshot().LibvirtUp })
}

func TestRunnerStopsWithCheckInFlight(t *testing.T) {
	host, eng, hist := exportertest.NewFakeHost("a", "hang"), exportertest.NewFakeEngine(), history.New(3)
	stop := startRunner(t, host, eng, hist)
	exportertest.Eventually(t, "a's check", func() bool { return exportertest.Known(hist, "a") })
	exportertest.Eventually(t, "hang's check to start", func() bool { return eng.Count("hang") == 1 })
	start := time.Now()
	stop() // fails the test if Run does not return
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	if exportertest.Known(hist, "hang") {
		t.Errorf("an abandoned check must not be recorded")
	}
}

func TestRunnerDownAfterRounds(t *testing.T) {
	host, eng, hist := exportertest.NewFakeHost("a"), exportertest.NewFakeEngine(), history.New(2)
	eng.Verdict["a"] = model.StateDown
	r := &Runner{Connect: exportertest.ConnectFunc[Conn](host), Engine: eng, History: hist, Interval: 30 * time.Millisecond, Settle: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	exportertest.Eventually(t, "two failed rounds", func() bool {
		e, ok := hist.Snapshot().Lookup(exportertest.UUIDOf("a"))
		return ok && e.State == model.StateDown && e.ConsecutiveFailures >= 2
	})
}

func TestRunnerNeedsParts(t *testing.T) {
	if err := (&Runner{}).Run(context.Background()); err == nil {
		t.Errorf("Run on an empty Runner = nil, want an error")
	}
}

func TestRunnerPolicyInterval(t *testing.T) {
	host, eng, hist := exportertest.NewFakeHost("fast"), exportertest.NewFakeEngine(), history.New(3)
	host.Add("slow")
	host.Doms[1].Policy.Interval = 400 * time.Millisecond
	r := &Runner{Connect: exportertest.ConnectFunc[Conn](host), Engine: eng, History: hist, Interval: 20 * time.Millisecond, Settle: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	time.Sleep(time.Second)
	cancel()
	<-done
	fast, slow := eng.Count("fast"), eng.Count("slow")
	if slow < 2 || slow > 4 || fast < 3*slow {
		t.Errorf("checked fast %d times and slow %d times in 1s; want slow every 400ms (2–4) and fast every round", fast, slow)
	}
}

func TestRunnerCoalescesEventFlood(t *testing.T) {
	// A guest reopening its agent port over and over gets one prompt
	// check; the events after it wait for the event interval (an hour
	// here), while another VM's event is still served at once.
	host, eng, hist := exportertest.NewFakeHost("a", "b"), exportertest.NewFakeEngine(), history.New(3)
	r := &Runner{
		Connect: exportertest.ConnectFunc[Conn](host), Engine: eng, History: hist, Interval: time.Hour, Settle: time.Millisecond,
		EventInterval: time.Hour,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	exportertest.Eventually(t, "the first round", func() bool { return exportertest.Known(hist, "a") && exportertest.Known(hist, "b") })

	agent := model.Event{Kind: model.EventAgentConnected, Name: "a", UUID: exportertest.UUIDOf("a")}
	host.Events <- agent
	exportertest.Eventually(t, "the check after the first event", func() bool { return eng.Count("a") == 2 })
	for range 50 {
		host.Events <- agent
	}
	host.Add("c")
	host.Events <- model.Event{Kind: model.EventStarted, Name: "c", UUID: exportertest.UUIDOf("c")}
	exportertest.Eventually(t, "the new VM's check", func() bool { return exportertest.Known(hist, "c") })
	host.Events <- model.Event{Kind: model.EventAgentConnected, Name: "b", UUID: exportertest.UUIDOf("b")}
	exportertest.Eventually(t, "b's check after its first event", func() bool { return eng.Count("b") == 2 })
	if n := eng.Count("a"); n != 2 {
		t.Errorf("a checked %d times after 51 agent events, want 2 (one round, one event-triggered check)", n)
	}
}

func TestRunnerCloseTimeout(t *testing.T) {
	// libvirtd hangs: closing the broken connection never returns. The
	// runner logs it, reconnects, and still stops when asked.
	host, eng, hist := exportertest.NewFakeHost("a"), exportertest.NewFakeEngine(), history.New(3)
	host.CloseHang = make(chan struct{})
	defer close(host.CloseHang)
	log, hook := logtest.NewNullLogger()
	r := &Runner{
		Connect: exportertest.ConnectFunc[Conn](host), Engine: eng, History: hist, Interval: time.Hour, Log: log,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, CloseTimeout: time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	exportertest.Eventually(t, "the first round", func() bool { return exportertest.Known(hist, "a") })
	host.Mu.Lock()
	close(host.Broken)
	host.Broken = make(chan struct{})
	host.Mu.Unlock()
	exportertest.Eventually(t, "a reconnection despite the hung close", func() bool {
		host.Mu.Lock()
		defer host.Mu.Unlock()
		return host.Connects >= 2
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
