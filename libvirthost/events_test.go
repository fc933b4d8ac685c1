//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/model"
)

// testDomainXML is a minimal domain for libvirt's test driver.
func testDomainXML(name string) string {
	return fmt.Sprintf(`<domain type='test'><name>%s</name><memory>65536</memory>
<os><type>hvm</type></os>
<devices><interface type='network'><mac address='52:54:00:77:00:01'/><source network='default'/></interface></devices>
</domain>`, name)
}

// TestWatchTestDriver drives real libvirt events through the test driver,
// whose "test:///default" state is shared by every connection of this
// process: a second connection changes domains, the source's Watch sees it.
func TestWatchTestDriver(t *testing.T) {
	if err := StartEventLoop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := New(ctx, "test:///default", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	events := make(chan model.Event, 32)
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, func(e model.Event) { events <- e }) }()

	admin, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	time.Sleep(100 * time.Millisecond) // let Watch register
	dom, err := admin.DomainCreateXML(testDomainXML("vmcheck-events"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()

	expect := func(kind model.EventKind) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Name == "vmcheck-events" && e.Kind == kind {
					if e.UUID == "" {
						t.Errorf("event %s without a UUID", kind)
					}
					return
				}
			case <-deadline:
				t.Fatalf("no %s event for vmcheck-events", kind)
			}
		}
	}
	expect(model.EventStarted)
	if err := dom.Suspend(); err != nil {
		t.Fatal(err)
	}
	expect(model.EventSuspended)
	if err := dom.Resume(); err != nil {
		t.Fatal(err)
	}
	expect(model.EventStarted)
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	expect(model.EventStopped)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func TestLoopBackoff(t *testing.T) {
	fail := errors.New("poll failed")
	ms := time.Millisecond
	tests := []struct {
		name string
		errs []error
		want []time.Duration
	}{
		{"successes never wait", []error{nil, nil, nil}, []time.Duration{0, 0, 0}},
		{"failures double up to the cap", []error{fail, fail, fail, fail, fail, fail},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}},
		{"a success resets", []error{fail, fail, nil, fail}, []time.Duration{10 * ms, 20 * ms, 0, 10 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := loopBackoff{min: 10 * ms, max: 100 * ms}
			for i, err := range tt.errs {
				if got := b.after(err); got != tt.want[i] {
					t.Errorf("after(%v) #%d = %s, want %s", err, i, got, tt.want[i])
				}
			}
		})
	}
}

func TestRunEventLoopBacksOff(t *testing.T) {
	// An event loop that fails at once every time: 100 iterations sleep
	// with the capped exponential backoff, never 0 (a hot loop).
	var sleeps []time.Duration
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		runEventLoop(func() error {
			if calls++; calls > 100 {
				runtime.Goexit() // ends the endless loop
			}
			return errors.New("poll failed")
		}, func(d time.Duration) { sleeps = append(sleeps, d) })
	}()
	<-done
	if len(sleeps) != 100 {
		t.Fatalf("%d sleeps for 100 failed iterations, want 100", len(sleeps))
	}
	if sleeps[0] != eventLoopMinBackoff || sleeps[99] != eventLoopMaxBackoff {
		t.Errorf("sleeps go from %s to %s, want %s to %s", sleeps[0], sleeps[99], eventLoopMinBackoff, eventLoopMaxBackoff)
	}
	for i := 1; i < len(sleeps); i++ {
		if sleeps[i] < sleeps[i-1] {
			t.Errorf("sleep %d (%s) shorter than the one before (%s)", i, sleeps[i], sleeps[i-1])
		}
	}
}

func TestUndoBounded(t *testing.T) {
	var order []int
	step := func(i int) func() error {
		return func() error { order = append(order, i); return errors.New("connection closed") }
	}
	if err := undoBounded([]func() error{step(1), step(2), step(3)}, time.Minute); err != nil {
		t.Errorf("undoBounded = %v, want nil (their own errors are ignored)", err)
	}
	if fmt.Sprint(order) != "[3 2 1]" {
		t.Errorf("undone in order %v, want [3 2 1]", order)
	}
	hang := make(chan struct{})
	defer close(hang)
	err := undoBounded([]func() error{func() error { <-hang; return nil }}, time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("undoBounded with a hung deregistration = %v, want context.DeadlineExceeded", err)
	}
	if err := undoBounded(nil, 0); err != nil {
		t.Errorf("undoBounded(nil) = %v", err)
	}
}
