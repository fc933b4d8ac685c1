package schedule

import "time"

// eventLimiter turns libvirt events into checks, at most one
// event-triggered check per domain per interval: a guest that reopens its
// agent channel every second must not get itself re-listed and re-checked
// every second. An event for a domain whose last event-triggered check
// began less than interval ago is not dropped: it and every later one are
// coalesced into one check when the interval has passed. It takes the time
// as an argument, so tests need no clock. It is not safe for concurrent
// use; the Runner's session loop owns it.
type eventLimiter struct {
	interval time.Duration
	// last is when each domain's last event-triggered check began.
	last map[string]time.Time
	// pending is when each domain with unserved events is due.
	pending map[string]time.Time
}

func newEventLimiter(interval time.Duration) *eventLimiter {
	return &eventLimiter{interval: interval, last: map[string]time.Time{}, pending: map[string]time.Time{}}
}

// event records an event for the domain at now and returns when its check
// is due: now, or the end of the interval of its last event-triggered
// check.
func (l *eventLimiter) event(uuid string, now time.Time) time.Time {
	if due, ok := l.pending[uuid]; ok {
		return due
	}
	due := now
	if last, ok := l.last[uuid]; ok && now.Before(last.Add(l.interval)) {
		due = last.Add(l.interval)
	}
	l.pending[uuid] = due
	return due
}

// due reports whether the domain has events whose check is due at now.
func (l *eventLimiter) due(uuid string, now time.Time) bool {
	at, ok := l.pending[uuid]
	return ok && !now.Before(at)
}

// next returns the earliest time a check is due among the domains with
// events for which skip is false (those in flight, say), or the zero time
// if there is none.
func (l *eventLimiter) next(skip func(uuid string) bool) time.Time {
	var first time.Time
	for u, at := range l.pending {
		if !skip(u) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

// checked records that a check of the domain began at now, which serves
// its pending events. byEvent says the check was event-triggered: its
// start then opens the domain's next interval.
func (l *eventLimiter) checked(uuid string, now time.Time, byEvent bool) {
	delete(l.pending, uuid)
	if byEvent {
		l.last[uuid] = now
	}
}

// retain forgets every domain not in keep.
func (l *eventLimiter) retain(keep map[string]bool) {
	for u := range l.pending {
		if !keep[u] {
			delete(l.pending, u)
		}
	}
	for u := range l.last {
		if !keep[u] {
			delete(l.last, u)
		}
	}
}
