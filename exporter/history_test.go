package exporter

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker"
)

type step struct {
	verdict     checker.State
	wantState   checker.State
	wantPending bool
	wantFails   int
	wantSince   int // index of the step at which the state began
}

func runSteps(t *testing.T, h *History, steps []step) {
	t.Helper()
	d := checker.Domain{Name: "vm", UUID: uuidDebian}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for i, s := range steps {
		h.Record(d, checker.Result{Name: "vm", UUID: uuidDebian, State: s.verdict, CheckedAt: at(i)}, nil)
		e, ok := h.Snapshot().Lookup(uuidDebian)
		if !ok {
			t.Fatalf("step %d: entry missing", i)
		}
		if e.State != s.wantState || e.Pending != s.wantPending || e.ConsecutiveFailures != s.wantFails || !e.Since.Equal(at(s.wantSince)) {
			t.Errorf("step %d (%s): state %s pending %t failures %d since +%s; want %s %t %d +%s", i, s.verdict,
				e.State, e.Pending, e.ConsecutiveFailures, e.Since.Sub(t0), s.wantState, s.wantPending, s.wantFails, at(s.wantSince).Sub(t0))
		}
	}
}

func TestHistoryDownAfterN(t *testing.T) {
	const (
		ok   = checker.StateOK
		deg  = checker.StateDegraded
		down = checker.StateDown
		unk  = checker.StateUnknown
		pau  = checker.StatePaused
	)
	tests := []struct {
		name      string
		downAfter int
		steps     []step
	}{
		{"one lost ping is not an outage", 3, []step{
			{ok, ok, false, 0, 0},
			{down, ok, true, 1, 0},
			{ok, ok, false, 0, 0},
		}},
		{"down after three failed rounds, since the first", 3, []step{
			{ok, ok, false, 0, 0},
			{down, ok, true, 1, 0},
			{down, ok, true, 2, 0},
			{down, down, false, 3, 1},
			{down, down, false, 4, 1},
			{ok, ok, false, 0, 5},
		}},
		{"degraded counts as failing and turns into down", 3, []step{
			{ok, ok, false, 0, 0},
			{deg, ok, true, 1, 0},
			{down, ok, true, 2, 0},
			{deg, deg, false, 3, 1},
			{down, down, false, 4, 4},
		}},
		{"a new VM that fails is unknown until confirmed", 2, []step{
			{down, unk, true, 1, 0},
			{down, down, false, 2, 0},
		}},
		{"unknown and paused reset the streak", 2, []step{
			{ok, ok, false, 0, 0},
			{down, ok, true, 1, 0},
			{unk, unk, false, 0, 2},
			{down, unk, true, 1, 2},
			{pau, pau, false, 0, 4},
			{down, pau, true, 1, 4},
			{down, down, false, 2, 5},
		}},
		{"down after 1 is immediate", 1, []step{
			{ok, ok, false, 0, 0},
			{deg, deg, false, 1, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewHistory(tt.downAfter), tt.steps)
		})
	}
}

func TestHistoryDefaults(t *testing.T) {
	if got := NewHistory(0).DownAfter(); got != DefaultDownAfter {
		t.Errorf("NewHistory(0).DownAfter() = %d, want %d", got, DefaultDownAfter)
	}
}

func TestHistoryRetain(t *testing.T) {
	h := fixtureHistory(1)
	before := h.Snapshot()
	h.Retain(map[string]bool{uuidDebian: true, uuidPaused: true})
	s := h.Snapshot()
	if len(s.Entries) != 2 || s.Entries[0].Result.Name != "lab-debian" || s.Entries[1].Result.Name != "lab-paused" {
		t.Errorf("after Retain: %d entries (%v)", len(s.Entries), s.Results())
	}
	if len(before.Entries) != 6 {
		t.Errorf("an earlier snapshot changed: %d entries, want 6", len(before.Entries))
	}
}

func TestHistorySaveLoad(t *testing.T) {
	// Cron mode: each run is a new process; the streak must survive.
	h := NewHistory(3)
	d := checker.Domain{Name: "vm", UUID: uuidDebian}
	rec := func(h *History, i int, s checker.State) Entry {
		_, e := h.Record(d, checker.Result{Name: "vm", UUID: uuidDebian, State: s, CheckedAt: t0.Add(time.Duration(i) * 5 * time.Minute)}, nil)
		return e
	}
	rec(h, 0, checker.StateOK)
	for i := 1; i <= 3; i++ {
		var buf bytes.Buffer
		if err := h.Save(&buf); err != nil {
			t.Fatal(err)
		}
		h = NewHistory(3)
		if err := h.Load(&buf); err != nil {
			t.Fatal(err)
		}
		if e, _ := h.Snapshot().Lookup(uuidDebian); !e.Result.CheckedAt.IsZero() {
			t.Errorf("a restored entry must carry no result")
		}
		e := rec(h, i, checker.StateDown)
		if e.ConsecutiveFailures != i {
			t.Errorf("run %d: failures = %d, want %d", i, e.ConsecutiveFailures, i)
		}
		if i == 3 && (e.State != checker.StateDown || !e.Since.Equal(t0.Add(5*time.Minute))) {
			t.Errorf("run 3: state %s since %s, want down since the first failed run", e.State, e.Since)
		}
	}
	for _, bad := range []string{`{`, `{"version":2,"domains":{}}`, `{"version":1,"domains":{"x":{"state":"weird"}}}`} {
		if err := NewHistory(3).Load(strings.NewReader(bad)); err == nil {
			t.Errorf("Load(%q) = nil, want an error", bad)
		}
	}
}
