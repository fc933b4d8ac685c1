package schedule

import (
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
)

// job is one check the scheduler wants started.
type job struct {
	dom   model.Domain
	round int // 0 for an event-triggered check
}

// done is one finished check.
type done struct {
	dom   model.Domain
	res   model.Result
	ex    []history.Exchange
	round int // 0 for an event-triggered check
}

// roundTrack counts the checks of one round still in flight.
type roundTrack struct {
	start     time.Time
	domains   int
	remaining int
}

// action is what the Runner's loop must do now.
type action int

const (
	actWait   action = iota // nothing is due
	actRound                // list the domains and start a round
	actRelist               // list the domains for due events and new domains
)

// scheduler is the serve scheduler of one connection without its
// goroutines, channels and clock: it decides when the domains are listed,
// which of them are checked, and records what the checks found. Every
// method takes the time as an argument, so tests drive it without real
// time. It is not safe for concurrent use; the Runner's session loop owns
// it.
type scheduler struct {
	interval time.Duration // between rounds; a domain's default interval
	settle   time.Duration // an event's wait for its burst to end; least time between listings
	retry    time.Duration // between the checks of a domain in a soft state; a domain's default retry interval
	history  *history.History
	log      logrus.FieldLogger
	events   *eventLimiter
	// next is when each domain is due next. It outlives the connection:
	// the Runner hands the same map to each session's scheduler.
	next     map[string]time.Time
	inflight map[string]bool
	listed   map[string]bool
	rounds   map[int]*roundTrack
	roundID  int
	// retryAt is when each domain in a soft state (failing, fewer than
	// DownAfter failures in a row) is re-checked.
	retryAt map[string]time.Time
	// nextRound is when the next round starts; lastList, when the domains
	// were last listed; pruneAt, when a domain stopped (zero if none did
	// since).
	nextRound, lastList, pruneAt time.Time
}

// newScheduler returns the scheduler of a connection opened at start; its
// first round is due at once.
func newScheduler(r *Runner, next map[string]time.Time, log logrus.FieldLogger, start time.Time) *scheduler {
	return &scheduler{
		interval:  timing.Or(r.Interval, DefaultInterval),
		settle:    timing.Or(r.Settle, defaultSettle),
		retry:     timing.Or(r.RetryInterval, DefaultRetryInterval),
		history:   r.History,
		log:       log,
		events:    newEventLimiter(timing.Or(r.EventInterval, DefaultEventInterval)),
		next:      next,
		inflight:  map[string]bool{},
		listed:    map[string]bool{},
		rounds:    map[int]*roundTrack{},
		retryAt:   map[string]time.Time{},
		nextRound: start,
	}
}

// due says what is due at now: a round, else a listing for events.
func (s *scheduler) due(now time.Time) action {
	if !now.Before(s.nextRound) {
		return actRound
	}
	if at := s.relistAt(); !at.IsZero() && !now.Before(at) {
		return actRelist
	}
	return actWait
}

// wait is how long from now until something is due (0 if it is already).
func (s *scheduler) wait(now time.Time) time.Duration {
	wait := s.nextRound.Sub(now)
	if at := s.relistAt(); !at.IsZero() {
		wait = min(wait, at.Sub(now))
	}
	return max(wait, 0)
}

// relistAt is when the domains must be listed again, or zero: Settle
// after a domain stopped (to drop it) or after events made a check due,
// and when a retry is due. Listings are at least Settle apart.
func (s *scheduler) relistAt() time.Time {
	due := s.events.next(func(u string) bool { return s.inflight[u] })
	if !s.pruneAt.IsZero() && (due.IsZero() || s.pruneAt.Before(due)) {
		due = s.pruneAt
	}
	var at time.Time
	if !due.IsZero() {
		at = due.Add(s.settle)
	}
	for _, r := range s.retryAt {
		if at.IsZero() || r.Before(at) {
			at = r
		}
	}
	if at.IsZero() {
		return at
	}
	if floor := s.lastList.Add(s.settle); at.Before(floor) {
		at = floor
	}
	return at
}

// retryDue reports whether the domain is in a soft state and its retry is
// due at now.
func (s *scheduler) retryDue(uuid string, now time.Time) bool {
	at, ok := s.retryAt[uuid]
	return ok && !now.Before(at)
}

// onEvent takes one domain or agent event: a stopped domain needs a
// listing to be dropped, any other event a check, which the limiter
// schedules.
func (s *scheduler) onEvent(ev model.Event, now time.Time) {
	f := s.log.WithFields(logrus.Fields{"domain": ev.Name, "uuid": ev.UUID, "event": string(ev.Kind)})
	if ev.Kind == model.EventStopped {
		if s.pruneAt.IsZero() {
			s.pruneAt = now
		}
		f.Debug("libvirt event")
		return
	}
	due := s.events.event(ev.UUID, now)
	f.WithField("check_in", due.Sub(now).String()).Debug("libvirt event")
}

// onList takes the domains as listed at now: the ones that are gone are
// forgotten (their schedule, events and History entry). It returns the
// boot IDs of the listed domains, for the engine's per-boot cache.
func (s *scheduler) onList(doms []model.Domain, now time.Time) (boots map[string]bool) {
	s.lastList, s.pruneAt = now, time.Time{}
	s.listed = UUIDSet(doms)
	boots = make(map[string]bool, len(doms))
	for _, d := range doms {
		boots[d.BootID] = true
		if d.Policy.Error != "" {
			s.log.WithFields(logrus.Fields{"domain": d.Name, "uuid": d.UUID}).Warn(d.Policy.Error)
		}
	}
	for u := range s.next {
		if !s.listed[u] {
			delete(s.next, u)
		}
	}
	for u := range s.retryAt {
		if !s.listed[u] {
			delete(s.retryAt, u)
		}
	}
	s.events.retain(s.listed)
	s.history.Retain(s.listed)
	return boots
}

// startRound starts the periodic round of now over the listed domains:
// every domain whose interval has passed, or whose events made it due, is
// to be checked. The next round is due an interval later.
func (s *scheduler) startRound(doms []model.Domain, now time.Time) []job {
	s.nextRound = now.Add(s.interval)
	s.roundID++
	rt := &roundTrack{start: now}
	var jobs []job
	for _, d := range doms {
		due, ok := s.next[d.UUID]
		// A domain is due when its interval has passed, give or take a
		// quarter round of timer jitter.
		if s.inflight[d.UUID] || (ok && !s.events.due(d.UUID, now) && now.Add(s.interval/4).Before(due)) {
			continue
		}
		jobs = append(jobs, s.started(d, s.roundID, now))
		rt.domains++
	}
	rt.remaining = rt.domains
	if rt.domains == 0 {
		s.history.SetRound(history.Round{Start: now, Domains: 0})
	} else {
		s.rounds[s.roundID] = rt
	}
	return jobs
}

// relist takes a listing made for events or retries: the domains whose
// events or retries are due, and any new domain, are to be checked now.
func (s *scheduler) relist(doms []model.Domain, now time.Time) []job {
	var jobs []job
	for _, d := range doms {
		if s.inflight[d.UUID] {
			continue
		}
		_, seen := s.next[d.UUID]
		switch {
		case s.events.due(d.UUID, now) || !seen:
			jobs = append(jobs, s.started(d, 0, now))
		case s.retryDue(d.UUID, now):
			jobs = append(jobs, s.started(d, -1, now))
		}
	}
	return jobs
}

// started records that a check of d begins at now and returns its job.
// round is the periodic round's ID, 0 for an event-triggered check, -1 for
// a retry (which neither serves events nor counts as one).
func (s *scheduler) started(d model.Domain, round int, now time.Time) job {
	s.inflight[d.UUID] = true
	delete(s.retryAt, d.UUID)
	if round >= 0 {
		s.events.checked(d.UUID, now, round == 0)
	}
	round = max(round, 0)
	s.next[d.UUID] = now.Add(timing.Or(d.Policy.Interval, s.interval))
	return job{dom: d, round: round}
}

// finished takes a check that ended at now, recorded or not: its domain
// is no longer in flight, and the last check of a round completes the
// round.
func (s *scheduler) finished(d done, now time.Time) {
	delete(s.inflight, d.dom.UUID)
	if rt := s.rounds[d.round]; rt != nil {
		rt.remaining--
		if rt.remaining == 0 {
			delete(s.rounds, d.round)
			s.history.SetRound(history.Round{Start: rt.start, Duration: now.Sub(rt.start), Domains: rt.domains})
		}
	}
}

// onResult takes a check that ended at now (finished) and records it in
// the History, unless its domain is gone.
func (s *scheduler) onResult(d done, now time.Time) {
	s.finished(d, now)
	if !s.listed[d.dom.UUID] {
		return
	}
	prev, e := s.history.Record(d.dom, d.res, d.ex)
	s.scheduleRetry(d.dom, d.res, e, now)
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

// scheduleRetry re-checks a domain in a soft state (its probes fail, but
// fewer than DownAfter times in a row) at RetryTime. No retry when the
// domain's own interval is as short. The retry interval is the domain's
// policy's, else the Runner's.
func (s *scheduler) scheduleRetry(d model.Domain, res model.Result, e history.Entry, now time.Time) {
	retry := timing.Or(d.Policy.RetryInterval, s.retry)
	if !e.Pending || retry >= timing.Or(d.Policy.Interval, s.interval) {
		return
	}
	s.retryAt[d.UUID] = RetryTime(res, retry, now)
}

// RetryTime is when serve and cron re-check a domain in a soft state
// after the check res that failed, with retry interval retry: that long
// after the start of the check (its CheckedAt), as Nagios counts
// retry_interval, so the check's own duration (and, in cron, the rest of
// its round) does not add up over the retries; at once (now) when the
// check outlasted the retry interval.
func RetryTime(res model.Result, retry time.Duration, now time.Time) time.Time {
	at := now.Add(retry)
	if !res.CheckedAt.IsZero() && res.CheckedAt.Before(now) {
		at = res.CheckedAt.Add(retry)
	}
	if at.Before(now) {
		at = now
	}
	return at
}
