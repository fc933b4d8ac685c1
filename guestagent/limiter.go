package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// ErrOverloaded marks a Transport error by which the hypervisor's daemon
// says it is overloaded (libvirt's keepalive timeout, a refused or reset
// connection, too many clients). A Limiter halves its limit when a call
// fails with it.
var ErrOverloaded = errors.New("hypervisor daemon overloaded")

// Limiter bounds the agent calls in flight across every domain of a host:
// through libvirt each one holds a libvirtd worker thread from the moment
// libvirtd reads it until the agent answers (qemuAgentCommand waits on the
// thread), and libvirtd has max_workers of them for every client. A check
// waiting for its guest's ping holds none, so checks in flight are bounded
// elsewhere (settings.Config.Concurrency) and much higher.
//
// The limit adapts, additive increase and multiplicative decrease: it
// starts at its maximum; a call failing with ErrOverloaded halves it, and
// so does, by a quarter, the latency of short agent calls (every command
// but guest-exec, which forks in the guest) climbing to three times its floor:
// libvirtd queueing calls for want of a worker is the first sign of
// starving it; latency cuts stop at half the maximum (see latencyFloor).
// At most one decrease per window of finished calls; each
// call that finishes in time adds 1/limit, so the limit regains one per
// window. It never goes below one.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	mu       sync.Mutex
	max      int
	limit    float64
	inflight int
	waiters  []chan struct{} // FIFO; a closed channel is a granted slot

	avg, floor time.Duration // EWMA of short calls' latency and its floor
	warm       [warmSamples]time.Duration
	samples    int
	sinceCut   int // calls finished since the last decrease

	peak, cuts int
}

// NewLimiter returns a Limiter of at most max calls in flight (at least 1).
func NewLimiter(max int) *Limiter {
	max = maxInt(max, 1)
	return &Limiter{max: max, limit: float64(max)}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// LimiterStats is a snapshot of a Limiter.
type LimiterStats struct {
	Max      int // the configured maximum
	Limit    int // the current limit (≤ Max)
	InFlight int // calls in flight now
	Peak     int // the most calls ever in flight at once
	Backoffs int // decreases so far (overload errors or climbing latency)
	// Latency and Floor are the smoothed latency of short agent calls and
	// its floor (zero before enough calls).
	Latency, Floor time.Duration
}

// Stats returns a snapshot of l.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterStats{Max: l.max, Limit: l.current(), InFlight: l.inflight, Peak: l.peak, Backoffs: l.cuts,
		Latency: l.avg, Floor: l.floor}
}

// current is the limit as a count; call with l.mu held.
func (l *Limiter) current() int { return maxInt(int(l.limit), 1) }

// Acquire waits for a slot, or fails with ctx's error wrapped in
// ErrUnresponsive when ctx ends first: for the caller the call went
// unanswered. Waiters are served in order.
func (l *Limiter) Acquire(ctx context.Context) error {
	l.mu.Lock()
	if len(l.waiters) == 0 && l.inflight < l.current() {
		l.take()
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-ch: // granted meanwhile: hand it on
			l.inflight--
			l.grant()
		default:
			for i, w := range l.waiters {
				if w == ch {
					l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
					break
				}
			}
		}
		return fmt.Errorf("%w: waiting for one of the %d agent calls allowed in flight: %w", ErrUnresponsive, l.max, ctx.Err())
	}
}

// take counts one more call in flight; call with l.mu held.
func (l *Limiter) take() {
	l.inflight++
	l.peak = maxInt(l.peak, l.inflight)
}

// grant hands free slots to waiters in order; call with l.mu held.
func (l *Limiter) grant() {
	for len(l.waiters) > 0 && l.inflight < l.current() {
		ch := l.waiters[0]
		l.waiters[0] = nil
		l.waiters = l.waiters[1:]
		l.take()
		close(ch)
	}
}

// Release ends a call that Acquire let through: took is how long it took,
// short says it was a short command (its latency is a signal), err is how
// it ended.
func (l *Limiter) Release(took time.Duration, short bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	l.sinceCut++
	switch {
	case errors.Is(err, ErrOverloaded):
		l.cut(0.5, 1)
	case short && err == nil:
		if l.sample(took) {
			l.cut(0.75, l.latencyFloor())
		} else {
			l.grow()
		}
	case err == nil:
		l.grow()
	}
	l.grant()
}

// sample feeds one short call's latency to the average; it reports
// whether the average has climbed to three times its floor. The first
// warmSamples calls set both at their median; after that one slow agent
// moves the average little: a sample counts at most four times the floor.
func (l *Limiter) sample(took time.Duration) bool {
	if l.samples < warmSamples {
		l.warm[l.samples] = took
		l.samples++
		if l.samples == warmSamples {
			w := l.warm
			slices.Sort(w[:])
			l.avg, l.floor = w[warmSamples/2], w[warmSamples/2]
		}
		return false
	}
	l.avg += (min(took, 4*l.floor) - l.avg) / 16
	if l.avg < l.floor {
		l.floor = l.avg
	} else {
		l.floor += (l.avg - l.floor) / 1024 // a lasting change becomes the norm
	}
	return l.avg > 3*l.floor
}

// warmSamples is how many short calls set a Limiter's latency floor.
const warmSamples = 16

// cut decreases the limit by factor, not below least, at most once per
// window of finished calls.
func (l *Limiter) cut(factor, least float64) {
	if l.sinceCut < l.current() || l.limit <= least {
		return
	}
	l.limit = max(least, 1, l.limit*factor)
	l.sinceCut = 0
	l.cuts++
}

// latencyFloor is the lowest limit climbing latency may cut to: half the
// maximum. Latency is a soft signal: it cannot tell libvirtd queueing
// calls from busy guests answering slower than the idle calls that set
// its floor, and a limit cut to one by it would let a single agent that
// drips its replies (holding its slot until the check's deadline) stall
// every other VM's calls. Only libvirt's own overload errors cut further.
func (l *Limiter) latencyFloor() float64 { return math.Ceil(float64(l.max) / 2) }

// grow adds 1/limit to the limit, up to its maximum.
func (l *Limiter) grow() {
	l.limit = min(float64(l.max), l.limit+1/l.limit)
}

// Transport returns t behind l: every call takes a slot of l, and calls
// through the returned Transport run one at a time, as libvirt runs one
// agent job per domain at a time: a second call waits here, holding no
// slot, instead of in libvirtd, holding a worker. Use one per domain.
func (l *Limiter) Transport(t Transport) Transport {
	return &limited{l: l, t: t, turn: make(chan struct{}, 1)}
}

// limited is a Transport behind a Limiter.
type limited struct {
	l    *Limiter
	t    Transport
	turn chan struct{} // holds a token while a call of this domain runs
}

// Command implements Transport.
func (x *limited) Command(ctx context.Context, request []byte) ([]byte, error) {
	select {
	case x.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for this domain's previous agent call: %w", ErrUnresponsive, ctx.Err())
	}
	defer func() { <-x.turn }()
	if err := x.l.Acquire(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	reply, err := x.t.Command(ctx, request)
	x.l.Release(time.Since(start), !bytes.Contains(request, []byte(`"guest-exec"`)), err)
	return reply, err
}
