package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/checker"
)

// Conn is one open connection to the hypervisor: it lists domains, reports
// their lifecycle events, and is closed when it breaks.
// *checker.LibvirtSource and *qemuhost.Source implement it.
type Conn interface {
	checker.Source
	// Watch calls fn for each domain or agent lifecycle event until ctx
	// ends (nil) or the connection breaks (an error). fn must not block.
	Watch(ctx context.Context, fn func(checker.Event)) error
	Close() error
}

// Engine is what the Runner needs of *checker.Checker.
type Engine interface {
	Select(ctx context.Context, src checker.Source) ([]checker.Domain, error)
	Check(ctx context.Context, d checker.Domain) checker.Result
	Forget(keep map[string]bool)
	Config() checker.Config
}

var _ Engine = (*checker.Checker)(nil)

// Defaults of the Runner's timing knobs.
const (
	DefaultInterval   = 60 * time.Second
	defaultMinBackoff = time.Second
	defaultMaxBackoff = time.Minute
	defaultSettle     = time.Second
	listTimeout       = 30 * time.Second
	// drainTimeout bounds how long a stopping runner waits for checks it
	// abandoned to return.
	drainTimeout = 10 * time.Second
)

// Runner keeps a History fresh: a round every Interval checks each domain
// whose own interval has passed, domain and agent lifecycle events get the
// domain checked promptly, vanished domains are forgotten, and a lost
// libvirt connection is re-established with exponential backoff while the
// last results stay served.
type Runner struct {
	// Connect opens a connection; it is called again after one breaks.
	Connect func(ctx context.Context) (Conn, error)
	// Engine checks domains.
	Engine Engine
	// History receives every completed check.
	History *History
	// Interval is the time between rounds, and the default per-domain
	// interval (DefaultInterval if zero). A domain's policy interval
	// overrides the latter; as rounds start every Interval, a shorter
	// policy interval has no effect.
	Interval time.Duration
	// RecordExchange keeps each check's agent exchange for the status page.
	RecordExchange bool
	// Log receives connection problems, state changes (info) and each
	// check (debug). Nil discards.
	Log logrus.FieldLogger
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (1 s and 1 min if zero). Settle is how long an event waits
	// for its burst to end before the domains are listed again (1 s if
	// zero).
	MinBackoff, MaxBackoff, Settle time.Duration

	next map[string]time.Time // when each domain is due next
}

// Run works until ctx ends, then abandons the checks in flight (their
// results are dropped, the History keeps the previous ones) and returns
// nil. It returns an error only for a misconfigured Runner.
func (r *Runner) Run(ctx context.Context) error {
	if r.Connect == nil || r.Engine == nil || r.History == nil {
		return errors.New("runner: Connect, Engine and History are required")
	}
	log := r.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	r.next = make(map[string]time.Time)
	minB, maxB := or(r.MinBackoff, defaultMinBackoff), or(r.MaxBackoff, defaultMaxBackoff)
	backoff := minB
	for {
		conn, err := r.Connect(ctx)
		if err == nil {
			r.History.SetLibvirtUp(true)
			log.Info("connected to libvirt")
			began := time.Now()
			err = r.session(ctx, conn, log)
			if cerr := conn.Close(); cerr != nil {
				log.WithError(cerr).Debug("closing the libvirt connection")
			}
			if time.Since(began) > maxB {
				backoff = minB
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		r.History.SetLibvirtUp(false)
		log.WithError(err).WithField("retry_in", backoff.String()).Warn("libvirt unavailable; serving the last results until it is back")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxB)
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// done is one finished check.
type done struct {
	dom   checker.Domain
	res   checker.Result
	ex    []Exchange
	round int // 0 for a prompt check
}

// roundTrack counts the checks of one round still in flight.
type roundTrack struct {
	start     time.Time
	domains   int
	remaining int
}

// eventQueue collects event UUIDs from libvirt's event loop without
// blocking it.
type eventQueue struct {
	mu    sync.Mutex
	uuids map[string]checker.Event
	wake  chan struct{}
}

func (q *eventQueue) push(ev checker.Event) {
	q.mu.Lock()
	q.uuids[ev.UUID] = ev
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) drain() map[string]checker.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.uuids
	q.uuids = make(map[string]checker.Event)
	return out
}

// session runs rounds on one connection until ctx ends (nil) or the
// connection breaks (an error).
func (r *Runner) session(ctx context.Context, conn Conn, log logrus.FieldLogger) error {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	watchErr := make(chan error, 1)
	defer func() {
		cancel()
		waitTimeout(&wg, drainTimeout)
	}()

	q := &eventQueue{uuids: make(map[string]checker.Event), wake: make(chan struct{}, 1)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchErr <- conn.Watch(sctx, q.push)
	}()

	interval := or(r.Interval, DefaultInterval)
	settle := or(r.Settle, defaultSettle)
	cfg := r.Engine.Config()
	sem := make(chan struct{}, max(cfg.Concurrency, 1))
	results := make(chan done)
	inflight := map[string]bool{}
	prompt := map[string]bool{}
	listed := map[string]bool{}
	rounds := map[int]*roundTrack{}
	roundID := 0
	nextRound := time.Now()
	var relistAt time.Time // zero: no relist pending

	dispatch := func(d checker.Domain, round int, at time.Time) {
		inflight[d.UUID] = true
		delete(prompt, d.UUID)
		r.next[d.UUID] = at.Add(or(d.Policy.Interval, interval))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-sctx.Done():
				return
			}
			defer func() { <-sem }()
			cctx, ccancel := context.WithTimeout(sctx, time.Duration(cfg.Timeout))
			var rec *Recorder
			if r.RecordExchange {
				rec = NewRecorder()
				d.Agent = rec.Wrap(d.Agent)
			}
			res := r.Engine.Check(cctx, d)
			ccancel()
			out := done{dom: d, res: res, round: round}
			if rec != nil {
				out.ex = rec.Exchanges()
			}
			select {
			case results <- out:
			case <-sctx.Done():
			}
		}()
	}

	list := func() ([]checker.Domain, error) {
		lctx, lcancel := context.WithTimeout(sctx, listTimeout)
		defer lcancel()
		doms, err := r.Engine.Select(lctx, conn)
		if err != nil {
			return nil, err
		}
		listed = make(map[string]bool, len(doms))
		boots := make(map[string]bool, len(doms))
		for _, d := range doms {
			listed[d.UUID] = true
			boots[d.BootID] = true
			if d.Policy.Error != "" {
				log.WithFields(logrus.Fields{"domain": d.Name, "uuid": d.UUID}).Warn(d.Policy.Error)
			}
		}
		for u := range r.next {
			if !listed[u] {
				delete(r.next, u)
			}
		}
		r.History.Retain(listed)
		r.Engine.Forget(boots)
		return doms, nil
	}

	for {
		now := time.Now()
		switch {
		case !now.Before(nextRound):
			doms, err := list()
			if err != nil {
				return fmt.Errorf("listing domains: %w", err)
			}
			roundID++
			rt := &roundTrack{start: now}
			for _, d := range doms {
				due, ok := r.next[d.UUID]
				// A domain is due when its interval has passed, give or
				// take a quarter round of timer jitter.
				if inflight[d.UUID] || (ok && !prompt[d.UUID] && now.Add(interval/4).Before(due)) {
					continue
				}
				dispatch(d, roundID, now)
				rt.domains++
			}
			rt.remaining = rt.domains
			if rt.domains == 0 {
				r.History.SetRound(Round{Start: now, Domains: 0})
			} else {
				rounds[roundID] = rt
			}
			nextRound = now.Add(interval)
			relistAt = time.Time{}
		case !relistAt.IsZero() && !now.Before(relistAt):
			relistAt = time.Time{}
			doms, err := list()
			if err != nil {
				return fmt.Errorf("listing domains: %w", err)
			}
			for u := range prompt {
				if !listed[u] {
					delete(prompt, u)
				}
			}
			for _, d := range doms {
				if inflight[d.UUID] {
					continue
				}
				if _, seen := r.next[d.UUID]; prompt[d.UUID] || !seen {
					dispatch(d, 0, now)
				}
			}
		}

		wait := time.Until(nextRound)
		if !relistAt.IsZero() {
			wait = min(wait, time.Until(relistAt))
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case err := <-watchErr:
			if err == nil || errors.Is(err, checker.ErrConnectionClosed) {
				timer.Stop()
				return err
			}
			// Events are a latency optimisation: without them, rounds
			// still find new and vanished domains.
			log.WithError(err).Warn("no libvirt events; new VMs wait for the next round")
			watchErr = nil
		case <-q.wake:
			for u, ev := range q.drain() {
				log.WithFields(logrus.Fields{"domain": ev.Name, "uuid": u, "event": string(ev.Kind)}).Debug("libvirt event")
				prompt[u] = true
			}
			if relistAt.IsZero() {
				relistAt = time.Now().Add(settle)
			}
		case d := <-results:
			delete(inflight, d.dom.UUID)
			if rt := rounds[d.round]; rt != nil {
				rt.remaining--
				if rt.remaining == 0 {
					delete(rounds, d.round)
					r.History.SetRound(Round{Start: rt.start, Duration: time.Since(rt.start), Domains: rt.domains})
				}
			}
			if sctx.Err() != nil || !listed[d.dom.UUID] {
				break // abandoned, or the domain is gone
			}
			prev, e := r.History.Record(d.dom, d.res, d.ex)
			fields := logrus.Fields{"domain": d.res.Name, "uuid": d.res.UUID, "state": string(e.State),
				"verdict": string(d.res.State), "consecutive_failures": e.ConsecutiveFailures}
			if d.res.Reason != "" {
				fields["reason"] = d.res.Reason
			}
			if prev != e.State {
				fields["previous_state"] = string(prev)
				log.WithFields(fields).Info("state changed")
			} else {
				log.WithFields(fields).Debug("domain checked")
			}
			if prompt[d.dom.UUID] && relistAt.IsZero() {
				relistAt = time.Now()
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// waitTimeout waits for wg, or gives up after d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	select {
	case <-ch:
	case <-time.After(d):
	}
}
