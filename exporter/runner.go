package exporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/checker"
)

// Conn is one open connection to the hypervisor: it lists domains, reports
// their lifecycle events, and is closed when it breaks.
// *libvirthost.Source and *qemuhost.Source implement it.
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
	DefaultInterval = 60 * time.Second
	// DefaultEventInterval is the least time between two event-triggered
	// checks of one domain.
	DefaultEventInterval = 30 * time.Second
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
	log := orDiscard(r.Log)
	r.next = make(map[string]time.Time)
	minB, maxB := or(r.MinBackoff, defaultMinBackoff), or(r.MaxBackoff, defaultMaxBackoff)
	backoff := minB
	backend := r.Engine.Config().Backend()
	for {
		conn, err := r.Connect(ctx)
		if err == nil {
			r.History.SetSourceUp(backend, true)
			log.WithField("backend", backend).Info("connected to " + backend)
			began := time.Now()
			err = r.session(ctx, conn, log)
			closeConn(conn, or(r.CloseTimeout, DefaultCloseTimeout), log)
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
	round int // 0 for an event-triggered check
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

// session is the state of the rounds on one connection. Only the session
// loop touches it, apart from wg and the channels.
type session struct {
	r        *Runner
	conn     Conn
	log      logrus.FieldLogger
	cfg      checker.Config
	interval time.Duration
	settle   time.Duration

	wg       sync.WaitGroup
	sem      chan struct{}
	results  chan done
	q        *eventQueue
	events   *eventLimiter
	inflight map[string]bool
	listed   map[string]bool
	rounds   map[int]*roundTrack
	roundID  int
	// lastList is when the domains were last listed; pruneAt, when a
	// domain stopped (zero if none did since).
	lastList, pruneAt time.Time
}

func (r *Runner) newSession(conn Conn, log logrus.FieldLogger) *session {
	cfg := r.Engine.Config()
	return &session{
		r: r, conn: conn, log: log, cfg: cfg,
		interval: or(r.Interval, DefaultInterval),
		settle:   or(r.Settle, defaultSettle),
		sem:      make(chan struct{}, max(cfg.Concurrency, 1)),
		results:  make(chan done),
		q:        &eventQueue{uuids: make(map[string]checker.Event), wake: make(chan struct{}, 1)},
		events:   newEventLimiter(or(r.EventInterval, DefaultEventInterval)),
		inflight: map[string]bool{},
		listed:   map[string]bool{},
		rounds:   map[int]*roundTrack{},
	}
}

// session runs rounds on one connection until ctx ends (nil) or the
// connection breaks (an error).
func (r *Runner) session(ctx context.Context, conn Conn, log logrus.FieldLogger) error {
	sctx, cancel := context.WithCancel(ctx)
	s := r.newSession(conn, log)
	defer func() {
		cancel()
		waitTimeout(&s.wg, drainTimeout)
	}()
	watchErr := s.watch(sctx)
	nextRound := time.Now()
	for {
		now := time.Now()
		if !now.Before(nextRound) {
			if err := s.round(sctx, now); err != nil {
				return err
			}
			nextRound = now.Add(s.interval)
		} else if at := s.relistAt(); !at.IsZero() && !now.Before(at) {
			if err := s.relist(sctx, now); err != nil {
				return err
			}
		}

		wait := time.Until(nextRound)
		if at := s.relistAt(); !at.IsZero() {
			wait = min(wait, time.Until(at))
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
		case <-s.q.wake:
			s.onEvents(time.Now())
		case d := <-s.results:
			s.onResult(sctx, d)
		case <-timer.C:
		}
		timer.Stop()
	}
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

// relistAt is when the domains must be listed again, or zero: Settle
// after a domain stopped (to drop it) or after events made a check due.
// Listings are at least Settle apart.
func (s *session) relistAt() time.Time {
	due := s.events.next(func(u string) bool { return s.inflight[u] })
	if !s.pruneAt.IsZero() && (due.IsZero() || s.pruneAt.Before(due)) {
		due = s.pruneAt
	}
	if due.IsZero() {
		return due
	}
	at := due.Add(s.settle)
	if floor := s.lastList.Add(s.settle); at.Before(floor) {
		at = floor
	}
	return at
}

// onEvents takes the queued events: a stopped domain needs a listing to
// be dropped, any other event a check, which the limiter schedules.
func (s *session) onEvents(now time.Time) {
	for u, ev := range s.q.drain() {
		f := s.log.WithFields(logrus.Fields{"domain": ev.Name, "uuid": u, "event": string(ev.Kind)})
		if ev.Kind == checker.EventStopped {
			if s.pruneAt.IsZero() {
				s.pruneAt = now
			}
			f.Debug("libvirt event")
			continue
		}
		due := s.events.event(u, now)
		f.WithField("check_in", due.Sub(now).String()).Debug("libvirt event")
	}
}

// dispatch starts checking d in the background. round is 0 for an
// event-triggered check.
func (s *session) dispatch(ctx context.Context, d checker.Domain, round int, at time.Time) {
	s.inflight[d.UUID] = true
	s.events.checked(d.UUID, at, round == 0)
	s.r.next[d.UUID] = at.Add(or(d.Policy.Interval, s.interval))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.sem }()
		cctx, ccancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
		var rec *Recorder
		if s.r.RecordExchange {
			rec = NewRecorder()
			d.Agent = rec.Wrap(d.Agent)
		}
		res := s.r.Engine.Check(cctx, d)
		ccancel()
		out := done{dom: d, res: res, round: round}
		if rec != nil {
			out.ex = rec.Exchanges()
		}
		select {
		case s.results <- out:
		case <-ctx.Done():
		}
	}()
}

// list lists the domains and forgets those that are gone.
func (s *session) list(ctx context.Context, now time.Time) ([]checker.Domain, error) {
	s.lastList, s.pruneAt = now, time.Time{}
	lctx, lcancel := context.WithTimeout(ctx, listTimeout)
	defer lcancel()
	doms, err := s.r.Engine.Select(lctx, s.conn)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	s.listed = make(map[string]bool, len(doms))
	boots := make(map[string]bool, len(doms))
	for _, d := range doms {
		s.listed[d.UUID] = true
		boots[d.BootID] = true
		if d.Policy.Error != "" {
			s.log.WithFields(logrus.Fields{"domain": d.Name, "uuid": d.UUID}).Warn(d.Policy.Error)
		}
	}
	for u := range s.r.next {
		if !s.listed[u] {
			delete(s.r.next, u)
		}
	}
	s.events.retain(s.listed)
	s.r.History.Retain(s.listed)
	s.r.Engine.Forget(boots)
	return doms, nil
}

// round starts a periodic round: every domain whose interval has passed,
// or whose events made it due, is checked.
func (s *session) round(ctx context.Context, now time.Time) error {
	doms, err := s.list(ctx, now)
	if err != nil {
		return err
	}
	s.roundID++
	rt := &roundTrack{start: now}
	for _, d := range doms {
		due, ok := s.r.next[d.UUID]
		// A domain is due when its interval has passed, give or take a
		// quarter round of timer jitter.
		if s.inflight[d.UUID] || (ok && !s.events.due(d.UUID, now) && now.Add(s.interval/4).Before(due)) {
			continue
		}
		s.dispatch(ctx, d, s.roundID, now)
		rt.domains++
	}
	rt.remaining = rt.domains
	if rt.domains == 0 {
		s.r.History.SetRound(Round{Start: now, Domains: 0})
	} else {
		s.rounds[s.roundID] = rt
	}
	return nil
}

// relist lists the domains for the events that are due and checks their
// domains, and any new domain, now.
func (s *session) relist(ctx context.Context, now time.Time) error {
	doms, err := s.list(ctx, now)
	if err != nil {
		return err
	}
	for _, d := range doms {
		if s.inflight[d.UUID] {
			continue
		}
		if _, seen := s.r.next[d.UUID]; s.events.due(d.UUID, now) || !seen {
			s.dispatch(ctx, d, 0, now)
		}
	}
	return nil
}

// onResult records a finished check, unless it was abandoned or its
// domain is gone.
func (s *session) onResult(ctx context.Context, d done) {
	delete(s.inflight, d.dom.UUID)
	if rt := s.rounds[d.round]; rt != nil {
		rt.remaining--
		if rt.remaining == 0 {
			delete(s.rounds, d.round)
			s.r.History.SetRound(Round{Start: rt.start, Duration: time.Since(rt.start), Domains: rt.domains})
		}
	}
	if ctx.Err() != nil || !s.listed[d.dom.UUID] {
		return
	}
	prev, e := s.r.History.Record(d.dom, d.res, d.ex)
	fields := logrus.Fields{"domain": d.res.Name, "uuid": d.res.UUID, "state": string(e.State),
		"verdict": string(d.res.State), "consecutive_failures": e.ConsecutiveFailures}
	if d.res.Reason != "" {
		fields["reason"] = d.res.Reason
	}
	if prev != e.State {
		fields["previous_state"] = string(prev)
		s.log.WithFields(fields).Info("state changed")
	} else {
		s.log.WithFields(fields).Debug("domain checked")
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
