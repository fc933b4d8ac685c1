// Package schedule keeps the History of `vmcheck serve` fresh: the Runner
// does the I/O (connections, listings, checks in the background, events)
// and its scheduler decides what to check when, taking the time as an
// argument. Cron shares its retry rule (RetryTime), its Conn and the
// memory target of the Go runtime (SetMemoryTarget).
package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// Conn is one open connection to the hypervisor: it lists domains, reports
// their lifecycle events, and is closed when it breaks.
// *libvirthost.Source and *qemuhost.Source implement it.
type Conn interface {
	model.Source
	// Watch calls fn for each domain or agent lifecycle event until ctx
	// ends (nil) or the connection breaks (an error). fn must not block.
	Watch(ctx context.Context, fn func(model.Event)) error
	Close() error
}

// Engine is what the Runner needs of *checker.Checker.
type Engine interface {
	Select(ctx context.Context, src model.Source) ([]model.Domain, error)
	Check(ctx context.Context, d model.Domain) model.Result
	Forget(keep map[string]bool)
	Config() settings.Config
}

var _ Engine = (*checker.Checker)(nil)

// Defaults of the Runner's timing knobs.
const (
	// DefaultInterval is the time between rounds.
	DefaultInterval = 60 * time.Second
	// DefaultEventInterval is the least time between two event-triggered
	// checks of one domain.
	DefaultEventInterval = 30 * time.Second
	// DefaultRetryInterval is the time between the checks of a domain in
	// a soft state.
	DefaultRetryInterval = 10 * time.Second
	// DefaultCloseTimeout bounds closing a libvirt connection.
	DefaultCloseTimeout = 5 * time.Second
	defaultMinBackoff   = time.Second
	defaultMaxBackoff   = time.Minute
	defaultSettle       = time.Second
	listTimeout         = 30 * time.Second
	// drainTimeout bounds how long a stopping runner waits for checks it
	// abandoned (and the event watcher) to return.
	drainTimeout = 10 * time.Second
)

// Runner keeps a History fresh: a round every Interval checks each domain
// whose own interval has passed, domain and agent lifecycle events get the
// domain checked promptly (at most once per EventInterval), vanished
// domains are forgotten, and a lost libvirt connection is re-established
// with exponential backoff while the last results stay served.
type Runner struct {
	// Connect opens a connection; it is called again after one breaks.
	Connect func(ctx context.Context) (Conn, error)
	// Engine checks domains.
	Engine Engine
	// History receives every completed check.
	History *history.History
	// Interval is the time between rounds, and the default per-domain
	// interval (DefaultInterval if zero). A domain's policy interval
	// overrides the latter; as rounds start every Interval, a shorter
	// policy interval has no effect.
	Interval time.Duration
	// RetryInterval is the time between the checks of a domain in a soft
	// state (DefaultRetryInterval if zero): its probes failed fewer than
	// DownAfter times in a row. It is re-checked at this pace, counted
	// from the start of the check that failed, until it recovers or its
	// failure is confirmed, so the hard state comes at most Interval +
	// (DownAfter-1)×RetryInterval after the fault (plus the last check's
	// duration). A domain's policy retry interval
	// overrides it. A retry interval at least the domain's interval means
	// no retries.
	RetryInterval time.Duration
	// RecordExchange keeps each check's agent exchange for the status page.
	RecordExchange bool
	// Log receives connection problems, state changes (info) and each
	// check (debug). Nil discards.
	Log logrus.FieldLogger
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (1 s and 1 min if zero). Settle is how long an event waits
	// for its burst to end before the domains are listed again, and the
	// least time between two event-triggered listings (1 s if zero).
	MinBackoff, MaxBackoff, Settle time.Duration
	// EventInterval is the least time between two event-triggered checks
	// of one domain (DefaultEventInterval if zero); the events in between
	// are coalesced into one check at its end.
	EventInterval time.Duration
	// CloseTimeout bounds closing a connection (DefaultCloseTimeout if
	// zero): a hung libvirtd must not hang the runner or its shutdown. A
	// close that takes longer is logged and abandoned.
	CloseTimeout time.Duration

	next map[string]time.Time // when each domain is due next
}

// Run works until ctx ends, then abandons the checks in flight (their
// results are dropped, the History keeps the previous ones) and returns
// nil. It returns an error only for a misconfigured Runner.
func (r *Runner) Run(ctx context.Context) error {
	if r.Connect == nil || r.Engine == nil || r.History == nil {
		return errors.New("runner: Connect, Engine and History are required")
	}
	go KeepMemoryTarget(ctx)
	log := LogOrDiscard(r.Log)
	r.next = make(map[string]time.Time)
	minB, maxB := timing.Or(r.MinBackoff, defaultMinBackoff), timing.Or(r.MaxBackoff, defaultMaxBackoff)
	backoff := minB
	backend := r.Engine.Config().Backend()
	for {
		conn, err := r.Connect(ctx)
		if err == nil {
			r.History.SetSourceUp(backend, true)
			log.WithField("backend", backend).Info("connected to " + backend)
			began := time.Now()
			err = r.session(ctx, conn, log)
			closeConn(conn, timing.Or(r.CloseTimeout, DefaultCloseTimeout), log)
			if time.Since(began) > maxB {
				backoff = minB
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		r.History.SetSourceUp(backend, false)
		log.WithError(err).WithFields(logrus.Fields{"backend": backend, "retry_in": backoff.String()}).
			Warn(backend + " unavailable; serving the last results until it is back")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxB)
	}
}

// closeConn closes conn, giving up after timeout: closing talks to
// libvirtd, which may hang. An abandoned close goes on in the background.
func closeConn(conn Conn, timeout time.Duration, log logrus.FieldLogger) {
	done := make(chan error, 1)
	go func() { done <- conn.Close() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.WithError(err).Debug("closing the libvirt connection")
		}
	case <-t.C:
		log.WithField("timeout", timeout.String()).Warn("closing the libvirt connection did not finish in time; abandoning it")
	}
}

// eventQueue collects event UUIDs from libvirt's event loop without
// blocking it.
type eventQueue struct {
	mu    sync.Mutex
	uuids map[string]model.Event
	wake  chan struct{}
}

func (q *eventQueue) push(ev model.Event) {
	q.mu.Lock()
	q.uuids[ev.UUID] = ev
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) drain() map[string]model.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.uuids
	q.uuids = make(map[string]model.Event)
	return out
}

// session is the I/O of the rounds on one connection: listing, the checks
// in the background, events and the loop's timer. What to do when is the
// scheduler's; only the session loop touches it.
type session struct {
	r     *Runner
	conn  Conn
	cfg   settings.Config
	log   logrus.FieldLogger
	sched *scheduler

	wg      sync.WaitGroup
	sem     chan struct{}
	results chan done
	q       *eventQueue
}

func (r *Runner) newSession(conn Conn, log logrus.FieldLogger, now time.Time) *session {
	cfg := r.Engine.Config()
	return &session{
		r: r, conn: conn, cfg: cfg, log: log,
		sched:   newScheduler(r, r.next, log, now),
		sem:     make(chan struct{}, max(cfg.Concurrency, 1)),
		results: make(chan done),
		q:       &eventQueue{uuids: make(map[string]model.Event), wake: make(chan struct{}, 1)},
	}
}

// session runs rounds on one connection until ctx ends (nil) or the
// connection breaks (an error).
func (r *Runner) session(ctx context.Context, conn Conn, log logrus.FieldLogger) error {
	sctx, cancel := context.WithCancel(ctx)
	s := r.newSession(conn, log, time.Now())
	defer func() {
		cancel()
		waitTimeout(&s.wg, drainTimeout)
	}()
	watchErr := s.watch(sctx)
	for {
		if err := s.due(sctx, time.Now()); err != nil {
			return err
		}
		timer := time.NewTimer(s.sched.wait(time.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case err := <-watchErr:
			if err == nil || errors.Is(err, model.ErrConnectionClosed) {
				timer.Stop()
				return err
			}
			// Events are a latency optimisation: without them, rounds
			// still find new and vanished domains.
			log.WithError(err).Warn("no libvirt events; new VMs wait for the next round")
			watchErr = nil
		case <-s.q.wake:
			now := time.Now()
			for _, ev := range s.q.drain() {
				s.sched.onEvent(ev, now)
			}
		case d := <-s.results:
			if sctx.Err() != nil {
				s.sched.finished(d, time.Now()) // abandoned: not recorded
			} else {
				s.sched.onResult(d, time.Now())
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// due lists the domains and starts their checks if a round, or a listing
// for events, is due at now.
func (s *session) due(ctx context.Context, now time.Time) error {
	next := s.sched.startRound
	switch s.sched.due(now) {
	case actWait:
		return nil
	case actRelist:
		next = s.sched.relist
	}
	doms, err := s.list(ctx, now)
	if err != nil {
		return err
	}
	for _, j := range next(doms, now) {
		s.start(ctx, j)
	}
	return nil
}

// watch subscribes to the connection's events until ctx ends. The error
// of Watch arrives on the returned channel; one that comes after the
// session ended (a hung deregistration, say) is logged.
func (s *session) watch(ctx context.Context) <-chan error {
	watchErr := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.conn.Watch(ctx, s.q.push)
		if err != nil && ctx.Err() != nil {
			s.log.WithError(err).Warn("stopping libvirt events")
		}
		watchErr <- err
	}()
	return watchErr
}

// list lists the domains, within listTimeout, and hands them to the
// scheduler, which forgets those that are gone; the Go runtime's memory
// target follows their number (SetMemoryTarget).
func (s *session) list(ctx context.Context, now time.Time) ([]model.Domain, error) {
	lctx, lcancel := context.WithTimeout(ctx, listTimeout)
	defer lcancel()
	doms, err := s.r.Engine.Select(lctx, s.conn)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	s.r.Engine.Forget(s.sched.onList(doms, now))
	SetMemoryTarget(len(doms))
	return doms, nil
}

// start checks j's domain in the background, at most Concurrency at a
// time, each under the per-domain deadline; the result goes to the
// session loop.
func (s *session) start(ctx context.Context, j job) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.sem }()
		cctx, ccancel := s.cfg.CheckContext(ctx)
		d := j.dom
		var rec *history.Recorder
		if s.r.RecordExchange {
			rec = history.NewRecorder()
			d.Agent = rec.Wrap(d.Agent)
		}
		res := s.r.Engine.Check(cctx, d)
		ccancel()
		out := done{dom: d, res: res, round: j.round}
		if rec != nil {
			out.ex = rec.Exchanges()
		}
		select {
		case s.results <- out:
		case <-ctx.Done():
		}
	}()
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

// CheckTiming validates the timing options of serve and cron and returns
// the retry interval. interval is the Runner's Interval, at least 1 s
// (cron: zero, not checked); downAfter, the History's, at least 1. The
// retry interval is *retry when the command sets it, else the config
// file's retry_interval, else DefaultRetryInterval; it must be positive.
// Its errors are *OptionError naming Interval, DownAfter or
// RetryInterval.
func CheckTiming(interval time.Duration, downAfter int, retry *time.Duration, cfg settings.Config) (time.Duration, error) {
	if interval != 0 && interval < time.Second {
		return 0, &OptionError{Option: "Interval", Err: fmt.Errorf("must be at least 1s, got %s", interval)}
	}
	if downAfter < 1 {
		return 0, &OptionError{Option: "DownAfter", Err: fmt.Errorf("must be at least 1, got %d", downAfter)}
	}
	d := timing.Or(time.Duration(cfg.RetryInterval), DefaultRetryInterval)
	if retry != nil {
		d = *retry
	}
	if d <= 0 {
		return 0, &OptionError{Option: "RetryInterval", Err: fmt.Errorf("must be positive, got %s", d)}
	}
	return d, nil
}
