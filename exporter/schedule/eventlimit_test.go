package schedule

import (
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
)

func TestEventLimiter(t *testing.T) {
	const u = "u"
	s := func(n int) time.Time { return exportertest.T0.Add(time.Duration(n) * time.Second) }
	never := func(string) bool { return false }
	type op struct {
		kind    string // "event", "check" (event-triggered), "round" (a round's check), "forget"
		at      int
		wantDue int // for "event": when the check is due
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"the first event is due at once", []op{{"event", 5, 5}}},
		{"events until the check are one", []op{{"event", 5, 5}, {"event", 6, 5}, {"event", 7, 5}}},
		{"events within the interval wait for its end", []op{
			{"event", 0, 0}, {"check", 1, 0}, {"event", 2, 31}, {"event", 20, 31}, {"check", 31, 0}, {"event", 32, 61},
		}},
		{"an event after the interval is due at once", []op{{"event", 0, 0}, {"check", 0, 0}, {"event", 45, 45}}},
		{"a round's check serves events but opens no interval", []op{
			{"event", 0, 0}, {"check", 0, 0}, {"event", 10, 30}, {"round", 12, 0}, {"event", 13, 30},
			{"round", 14, 0}, {"event", 40, 40},
		}},
		{"a forgotten domain starts afresh", []op{{"event", 0, 0}, {"check", 0, 0}, {"event", 1, 30}, {"forget", 2, 0}, {"event", 3, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newEventLimiter(30 * time.Second)
			for i, o := range tt.ops {
				switch o.kind {
				case "event":
					if got := l.event(u, s(o.at)); !got.Equal(s(o.wantDue)) {
						t.Errorf("op %d: event at %ds due at %s, want %ds", i, o.at, got.Sub(exportertest.T0), o.wantDue)
					}
					if got := l.next(never); !got.Equal(s(o.wantDue)) {
						t.Errorf("op %d: next = %s, want %ds", i, got.Sub(exportertest.T0), o.wantDue)
					}
				case "check", "round":
					l.checked(u, s(o.at), o.kind == "check")
					if !l.next(never).IsZero() || l.due(u, s(o.at+1000)) {
						t.Errorf("op %d: a check left events pending", i)
					}
				case "forget":
					l.retain(map[string]bool{"other": true})
				}
			}
		})
	}
}

func TestEventLimiterFlood(t *testing.T) {
	// A guest reopens its agent port every second for an hour; the runner
	// checks it whenever a check is due. Also another domain's events keep
	// coming: they do not make the first one due.
	l := newEventLimiter(30 * time.Second)
	checks := 0
	for i := range 3600 {
		now := exportertest.T0.Add(time.Duration(i) * time.Second)
		l.event("hostile", now)
		l.event("quiet", exportertest.T0)
		if l.due("hostile", now) {
			l.checked("hostile", now, true)
			checks++
		}
	}
	if want := 3600/30 + 1; checks > want {
		t.Errorf("an hour of events every second made %d checks, want at most %d", checks, want)
	}
	if checks < 3600/30 {
		t.Errorf("an hour of events every second made only %d checks; events must not be dropped", checks)
	}
}

func TestEventLimiterNextSkips(t *testing.T) {
	l := newEventLimiter(time.Minute)
	l.event("a", exportertest.T0)
	l.event("b", exportertest.T0.Add(time.Second))
	inflight := map[string]bool{"a": true}
	if got := l.next(func(u string) bool { return inflight[u] }); !got.Equal(exportertest.T0.Add(time.Second)) {
		t.Errorf("next skipping a = %s, want b's due time", got.Sub(exportertest.T0))
	}
	inflight["b"] = true
	if got := l.next(func(u string) bool { return inflight[u] }); !got.IsZero() {
		t.Errorf("next with every domain in flight = %s, want zero", got)
	}
}
