package history_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/labels"
	"github.com/vmcheck/vmcheck/model"
)

type step struct {
	verdict     model.State
	wantState   model.State
	wantPending bool
	wantFails   int
	wantSince   int // index of the step at which the state began
}

func runSteps(t *testing.T, h *history.History, steps []step) {
	t.Helper()
	d := model.Domain{Name: "vm", UUID: exportertest.UUIDDebian}
	at := func(i int) time.Time { return exportertest.T0.Add(time.Duration(i) * time.Minute) }
	for i, s := range steps {
		h.Record(d, model.Result{Name: "vm", UUID: exportertest.UUIDDebian, State: s.verdict, CheckedAt: at(i)}, nil)
		e, ok := h.Snapshot().Lookup(exportertest.UUIDDebian)
		if !ok {
			t.Fatalf("step %d: entry missing", i)
		}
		if e.State != s.wantState || e.Pending != s.wantPending || e.ConsecutiveFailures != s.wantFails || !e.Since.Equal(at(s.wantSince)) {
			t.Errorf("step %d (%s): state %s pending %t failures %d since +%s; want %s %t %d +%s", i, s.verdict,
				e.State, e.Pending, e.ConsecutiveFailures, e.Since.Sub(exportertest.T0), s.wantState, s.wantPending, s.wantFails, at(s.wantSince).Sub(exportertest.T0))
		}
	}
}

func TestHistoryDownAfterN(t *testing.T) {
	const (
		ok   = model.StateOK
		deg  = model.StateDegraded
		down = model.StateDown
		unk  = model.StateUnknown
		pau  = model.StatePaused
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
			runSteps(t, history.New(tt.downAfter), tt.steps)
		})
	}
}

func TestHistoryDefaults(t *testing.T) {
	if got := history.New(0).DownAfter(); got != history.DefaultDownAfter {
		t.Errorf("history.New(0).DownAfter() = %d, want %d", got, history.DefaultDownAfter)
	}
}

func TestHistoryRetain(t *testing.T) {
	h := exportertest.History(1)
	before := h.Snapshot()
	h.Retain(map[string]bool{exportertest.UUIDDebian: true, exportertest.UUIDPaused: true})
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
	h := history.New(3)
	d := model.Domain{Name: "vm", UUID: exportertest.UUIDDebian}
	rec := func(h *history.History, i int, s model.State) history.Entry {
		_, e := h.Record(d, model.Result{Name: "vm", UUID: exportertest.UUIDDebian, State: s, CheckedAt: exportertest.T0.Add(time.Duration(i) * 5 * time.Minute)}, nil)
		return e
	}
	rec(h, 0, model.StateOK)
	for i := 1; i <= 3; i++ {
		var buf bytes.Buffer
		if err := h.Save(&buf); err != nil {
			t.Fatal(err)
		}
		h = history.New(3)
		if err := h.Load(&buf); err != nil {
			t.Fatal(err)
		}
		if e, _ := h.Snapshot().Lookup(exportertest.UUIDDebian); !e.Result.CheckedAt.IsZero() {
			t.Errorf("a restored entry must carry no result")
		}
		e := rec(h, i, model.StateDown)
		if e.ConsecutiveFailures != i {
			t.Errorf("run %d: failures = %d, want %d", i, e.ConsecutiveFailures, i)
		}
		if i == 3 && (e.State != model.StateDown || !e.Since.Equal(exportertest.T0.Add(5*time.Minute))) {
			t.Errorf("run 3: state %s since %s, want down since the first failed run", e.State, e.Since)
		}
	}
	for _, bad := range []string{`{`, `{"version":2,"domains":{}}`, `{"version":1,"domains":{"x":{"state":"weird"}}}`} {
		if err := history.New(3).Load(strings.NewReader(bad)); err == nil {
			t.Errorf("Load(%q) = nil, want an error", bad)
		}
	}
}

func TestHistoryLoadAllOrNothing(t *testing.T) {
	good := `"uuid":{"name":"vm","state":"ok","since":"2025-03-01T12:00:00Z","consecutive_failures":0}`
	tests := []struct {
		name, file, wantErr string
	}{
		{"not JSON", `{`, "unexpected EOF"},
		{"another version", `{"version":2,"domains":{}}`, "version 2"},
		{"trailing data", `{"version":1,"domains":{}}}`, "after the JSON document"},
		{"one bad state among good entries", `{"version":1,"domains":{` + strings.Replace(good, "uuid", exportertest.UUIDBadGW, 1) +
			`,"` + exportertest.UUIDPaused + `":{"name":"p","state":"weird"}}}`, `domain "` + exportertest.UUIDPaused + `": unknown state "weird"`},
		{"not a UUID", `{"version":1,"domains":{"x":{"name":"x","state":"ok"}}}`, `domain "x": not a UUID`},
		{"negative failures", `{"version":1,"domains":{"` + exportertest.UUIDPaused + `":{"name":"p","state":"ok","consecutive_failures":-1}}}`, "negative"},
		{"failures beyond int", `{"version":1,"domains":{"` + exportertest.UUIDPaused + `":{"name":"p","state":"ok","consecutive_failures":1e40}}}`, "consecutive_failures"},
		{"name too long", `{"version":1,"domains":{"` + exportertest.UUIDPaused + `":{"name":"` + strings.Repeat("n", 2000) + `","state":"ok"}}}`, "name"},
		{"bad label set", `{"version":1,"domains":{"` + exportertest.UUIDPaused + `":{"name":"p","state":"ok","label_sets":{"gateway_probe":[["192.0.2.1\n",""]]}}}}`, "invalid label values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := exportertest.History(3)
			before := h.Snapshot()
			err := h.Load(strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
			if after := h.Snapshot(); after != before {
				t.Errorf("a failed Load changed the history: %d entries, had %d", len(after.Entries), len(before.Entries))
			}
		})
	}
}

// countingReader is an endless stream of spaces that counts what it gives.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestHistoryLoadRefusesHugeFile(t *testing.T) {
	// A 100 MB state file (here an endless one) is refused after
	// history.MaxStateSize bytes, not read whole.
	r := &countingReader{}
	err := history.New(3).Load(r)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(endless) = %v, want a too-large error", err)
	}
	if r.n > history.MaxStateSize+64<<10 {
		t.Errorf("Load read %d bytes, want about %d", r.n, history.MaxStateSize)
	}
}

func TestHistorySaturatesFailures(t *testing.T) {
	h := history.New(3)
	file := fmt.Sprintf(`{"version":1,"domains":{"%s":{"name":"vm","state":"down","since":"2025-03-01T12:00:00Z","consecutive_failures":%d,"failing_since":"2025-03-01T12:00:00Z"}}}`,
		exportertest.UUIDDebian, math.MaxInt)
	if err := h.Load(strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	d := model.Domain{Name: "vm", UUID: exportertest.UUIDDebian}
	for i := range 2 {
		_, e := h.Record(d, model.Result{Name: "vm", UUID: exportertest.UUIDDebian, State: model.StateDown, CheckedAt: exportertest.T0.Add(time.Duration(i) * time.Minute)}, nil)
		if e.ConsecutiveFailures != math.MaxInt || e.State != model.StateDown || !e.Since.Equal(exportertest.T0) {
			t.Errorf("record %d at MaxInt failures: %d, %s since %s; want MaxInt, down since %s", i, e.ConsecutiveFailures, e.State, e.Since, exportertest.T0)
		}
	}
}

func TestHistorySaveLoadKeepsLabelBudget(t *testing.T) {
	// Cron: each run is a process; the label budget must span runs.
	h := history.New(3)
	for i := range 3 * labels.MaxGatewaySets {
		var buf bytes.Buffer
		if err := h.Save(&buf); err != nil {
			t.Fatal(err)
		}
		h = history.New(3)
		if err := h.Load(&buf); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		d, r := exportertest.HostileRound(i)
		h.Record(d, r, nil)
	}
	e, _ := h.Snapshot().Lookup(exportertest.UUIDDebian)
	if got := e.Labels.Info[2]; got != labels.Placeholder {
		t.Errorf("after %d runs with a new OS version each, os_version = %q, want %q", 3*labels.MaxGatewaySets, got, labels.Placeholder)
	}
	for _, p := range e.Labels.Probes {
		if p.Kind == string(model.ProbeGateway) && p.Target != labels.Placeholder {
			t.Errorf("after %d runs with a new gateway each, a gateway probe has target %q", 3*labels.MaxGatewaySets, p.Target)
		}
	}
}
