package guestagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate is a Transport whose calls block until the test lets them go; it
// records the most calls it ever had in flight.
type gate struct {
	inflight, peak atomic.Int32
	arrived        chan struct{}
	release        chan error
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 1024), release: make(chan error)}
}

func (g *gate) Command(ctx context.Context, _ []byte) ([]byte, error) {
	n := g.inflight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer g.inflight.Add(-1)
	g.arrived <- struct{}{}
	select {
	case err := <-g.release:
		return []byte(`{"return":{}}`), err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Many domains calling at once through one Limiter never have more than
// its limit of calls in flight, and every call gets through.
func TestLimiterBoundsCallsInFlight(t *testing.T) {
	const limit, domains, calls = 4, 32, 5
	l := NewLimiter(limit)
	g := newGate()
	var wg sync.WaitGroup
	for range domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := l.Transport(g)
			for range calls {
				// guest-exec: its latency is no signal, so the limit stays.
				if _, err := tr.Command(context.Background(), []byte(`{"execute":"guest-exec"}`)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// The first limit calls get in (32 domains are calling); after that
	// the test lets calls go one at a time and checks every arrival.
	check := func() {
		if got := g.inflight.Load(); got > limit {
			t.Fatalf("%d calls in flight, limit %d", got, limit)
		}
	}
	pending := 0
	for range limit {
		<-g.arrived
		pending++
	}
	for finished := 0; finished < domains*calls; finished++ {
		if pending == 0 {
			<-g.arrived
			pending++
			check()
		}
		for drained := false; !drained; {
			select {
			case <-g.arrived:
				pending++
				check()
			default:
				drained = true
			}
		}
		g.release <- nil
		pending--
	}
	<-done
	if p := g.peak.Load(); p != limit {
		t.Errorf("peak %d calls in flight, want exactly the limit %d (32 domains were waiting)", p, limit)
	}
	if s := l.Stats(); s.InFlight != 0 || s.Peak != limit {
		t.Errorf("stats %+v", s)
	}
}

// Calls of one domain run one at a time, holding no slot while they wait:
// a second domain gets the one slot while the first domain's second call
// waits for its first.
func TestLimiterOneCallPerDomain(t *testing.T) {
	l := NewLimiter(2)
	g := newGate()
	a, b := l.Transport(g), l.Transport(g)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); a.Command(context.Background(), nil) }()
	}
	<-g.arrived // one call of a
	wg.Add(1)
	go func() { defer wg.Done(); b.Command(context.Background(), nil) }()
	<-g.arrived // b's call got the second slot although a has two waiting
	if n := g.inflight.Load(); n != 2 {
		t.Fatalf("%d calls in flight, want 2 (one per domain)", n)
	}
	for range 4 {
		g.release <- nil
		if n := g.inflight.Load(); n > 2 {
			t.Fatalf("%d in flight", n)
		}
		select {
		case <-g.arrived:
		case <-time.After(0):
		}
	}
	wg.Wait()
}

// An overload error halves the limit (once per window of finished calls),
// and calls in flight then stay under the new limit; calls that finish
// well bring it back, one per window.
func TestLimiterBacksOffOnOverload(t *testing.T) {
	l := NewLimiter(8)
	ctx := context.Background()
	for range 8 {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	overload := fmt.Errorf("libvirt: %w", ErrOverloaded)
	for range 8 {
		l.Release(time.Millisecond, true, overload)
	}
	if s := l.Stats(); s.Limit != 4 || s.Backoffs != 1 {
		t.Fatalf("after a burst of overload errors: limit %d, backoffs %d; want 4, 1", s.Limit, s.Backoffs)
	}
	// Real concurrency under the halved limit.
	g := newGate()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Transport(g).Command(ctx, []byte(`{"execute":"guest-exec"}`)) }()
	}
	for range 16 {
		<-g.arrived
		if n := g.inflight.Load(); n > 5 { // 4, growing by 1/4 per call
			t.Fatalf("%d calls in flight after the backoff to 4", n)
		}
		g.release <- nil
	}
	wg.Wait()
	for range 200 {
		l.Acquire(ctx)
		l.Release(time.Millisecond, false, nil)
	}
	if s := l.Stats(); s.Limit != 8 {
		t.Errorf("after 200 good calls the limit is %d, want back at 8", s.Limit)
	}
}

// Short calls whose latency climbs to over twice its floor cut the limit;
// one agent answering slowly among fast ones does not.
func TestLimiterBacksOffOnLatency(t *testing.T) {
	l := NewLimiter(16)
	ctx := context.Background()
	run := func(n int, took func(i int) time.Duration) {
		for i := range n {
			if err := l.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			l.Release(took(i), true, nil)
		}
	}
	run(100, func(i int) time.Duration {
		if i%10 == 0 {
			return 5 * time.Second // a slow agent
		}
		return time.Millisecond
	})
	if s := l.Stats(); s.Backoffs != 0 || s.Limit != 16 {
		t.Fatalf("one slow agent in ten: %+v; want no backoff", s)
	}
	run(100, func(int) time.Duration { return 5 * time.Millisecond })
	s := l.Stats()
	if s.Backoffs == 0 || s.Limit >= 16 {
		t.Fatalf("latency ×5: %+v; want a backoff", s)
	}
}

// Climbing latency alone never cuts the limit below half its maximum: busy
// guests answering every short call five times slower than the idle calls
// that set the floor (what 17 TCG guests checked at once do) took a
// limit of 18 down to 1 within 70 calls, and one agent dripping its reply
// then held the only slot until the check's deadline while every other
// VM waited. libvirt's overload errors still cut it to 1.
func TestLimiterLatencyKeepsHalf(t *testing.T) {
	l := NewLimiter(18)
	ctx := context.Background()
	for i := range 216 {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		took := time.Millisecond
		if i >= 16 {
			took = 5 * time.Millisecond
		}
		l.Release(took, true, nil)
	}
	if s := l.Stats(); s.Backoffs == 0 || s.Limit != 9 {
		t.Fatalf("latency ×5 for 200 calls: %+v; want backoffs down to 9, half of 18", s)
	}
	for range 200 {
		if err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		l.Release(time.Millisecond, true, ErrOverloaded)
	}
	if s := l.Stats(); s.Limit != 1 {
		t.Errorf("after overload errors: limit %d, want 1", s.Limit)
	}
}

// A call waiting for a slot gives up when its context ends, with an
// error wrapping ErrUnresponsive and the context's error, and the slot it
// would have had goes to the next waiter.
func TestLimiterWaitHonoursContext(t *testing.T) {
	l := NewLimiter(1)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- l.Acquire(ctx) }()
	for len(waiters(l)) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-errc
	if !errors.Is(err, ErrUnresponsive) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if w := waiters(l); len(w) != 0 {
		t.Fatalf("%d waiters left after the only one gave up", len(w))
	}
	l.Release(0, false, nil)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.InFlight != 1 {
		t.Errorf("in flight %d, want 1", s.InFlight)
	}
}

func waiters(l *Limiter) []chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chan struct{}(nil), l.waiters...)
}
