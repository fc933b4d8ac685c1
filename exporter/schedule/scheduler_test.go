package schedule

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/model"
)

// schedHarness drives a scheduler through a fake host's domains, in
// seconds after exportertest.T0: no clock, no goroutine.
type schedHarness struct {
	t     *testing.T
	s     *scheduler
	hist  *history.History
	hook  *logtest.Hook
	doms  []model.Domain
	jobs  map[string]job       // the checks in flight, by domain name
	began map[string]time.Time // when each check in flight started
	check map[string]model.State
}

// newSchedHarness has a minute between rounds, a Settle of one second and
// an event interval of 30 s. A domain named "slow" has a policy interval
// of 5 minutes.
func newSchedHarness(t *testing.T, names ...string) *schedHarness {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	h := &schedHarness{t: t, hist: history.New(3), hook: hook, jobs: map[string]job{}, began: map[string]time.Time{}, check: map[string]model.State{}}
	r := &Runner{History: h.hist, Interval: time.Minute, Settle: time.Second, EventInterval: 30 * time.Second}
	h.s = newScheduler(r, map[string]time.Time{}, log, exportertest.T0)
	for _, n := range names {
		h.add(n)
	}
	return h
}

func sec(n float64) time.Time { return exportertest.T0.Add(time.Duration(n * float64(time.Second))) }

func (h *schedHarness) add(name string) {
	d := model.Domain{Name: name, UUID: exportertest.UUIDOf(name), State: model.Running, BootID: name}
	if name == "slow" {
		d.Policy.Interval = 5 * time.Minute
	}
	h.doms = append(h.doms, d)
}

func (h *schedHarness) remove(name string) {
	h.doms = slices.DeleteFunc(h.doms, func(d model.Domain) bool { return d.Name == name })
}

// start lists the host's domains at now, hands them to start (startRound
// or relist) and returns the names of the domains to check.
func (h *schedHarness) start(now time.Time, start func([]model.Domain, time.Time) []job) string {
	doms := slices.Clone(h.doms)
	h.s.onList(doms, now)
	var names []string
	for _, j := range start(doms, now) {
		if _, dup := h.jobs[j.dom.Name]; dup {
			h.t.Errorf("%s: started while in flight", j.dom.Name)
		}
		h.jobs[j.dom.Name] = j
		h.began[j.dom.Name] = now
		names = append(names, j.dom.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// finish ends the check in flight of name at now; record false drops it
// as an abandoned check.
func (h *schedHarness) finish(name string, now, checkedAt time.Time, record bool) {
	j, ok := h.jobs[name]
	if !ok {
		h.t.Fatalf("%s: no check in flight", name)
	}
	delete(h.jobs, name)
	state := h.check[name]
	if state == "" {
		state = model.StateOK
	}
	d := done{dom: j.dom, round: j.round, res: model.Result{Name: name, UUID: j.dom.UUID, State: state, CheckedAt: checkedAt}}
	if record {
		h.s.onResult(d, now)
	} else {
		h.s.finished(d, now)
	}
}

// known lists the domains the History has a result for.
func (h *schedHarness) known() string {
	var names []string
	for _, e := range h.hist.Snapshot().Entries {
		names = append(names, e.Result.Name)
	}
	return strings.Join(names, ",")
}

// round describes the History's last completed round.
func (h *schedHarness) round() string {
	r := h.hist.Snapshot().Round
	if r.Start.IsZero() {
		return "none"
	}
	return fmt.Sprintf("at %s: %d in %s", r.Start.Sub(exportertest.T0), r.Domains, r.Duration)
}

// state is the reported state of name, with "failing n/N" in a soft
// state.
func (h *schedHarness) state(name string) string {
	e, ok := h.hist.Snapshot().Lookup(exportertest.UUIDOf(name))
	if !ok {
		return "none"
	}
	if e.Pending {
		return fmt.Sprintf("%s failing %d/%d", e.State, e.ConsecutiveFailures, h.hist.DownAfter())
	}
	return string(e.State)
}

var actions = map[action]string{actWait: "wait", actRound: "round", actRelist: "relist"}

// schedOp is one step of a scheduler test, at seconds after exportertest.T0.
type schedOp struct {
	at   float64
	do   string // due, wait, round, relist, event KIND, result, timed result, abandon, add, remove, known, last-round, verdict NAME=STATE, state
	arg  string // a domain name
	want string
}

func (h *schedHarness) apply(i int, o schedOp) {
	now, got := sec(o.at), ""
	switch kind, _ := strings.CutPrefix(o.do, "event "); {
	case o.do == "due":
		got = actions[h.s.due(now)]
	case o.do == "wait":
		got = h.s.wait(now).String()
	case o.do == "round":
		got = h.start(now, h.s.startRound)
	case o.do == "relist":
		got = h.start(now, h.s.relist)
	case kind != o.do:
		h.s.onEvent(model.Event{Kind: model.EventKind(kind), Name: o.arg, UUID: exportertest.UUIDOf(o.arg)}, now)
	case o.do == "result", o.do == "abandon":
		h.finish(o.arg, now, now, o.do == "result")
	case o.do == "timed result":
		h.finish(o.arg, now, h.began[o.arg], true)
	case o.do == "add":
		h.add(o.arg)
	case o.do == "remove":
		h.remove(o.arg)
	case o.do == "known":
		got = h.known()
	case o.do == "last-round":
		got = h.round()
	case o.do == "verdict":
		name, state, _ := strings.Cut(o.arg, "=")
		h.check[name] = model.State(state)
	case o.do == "state":
		got = h.state(o.arg)
	default:
		h.t.Fatalf("op %d: unknown %q", i, o.do)
	}
	if got != o.want {
		h.t.Errorf("op %d at %gs: %s %s = %q, want %q", i, o.at, o.do, o.arg, got, o.want)
	}
}

func TestScheduler(t *testing.T) {
	tests := []struct {
		name    string
		domains []string
		ops     []schedOp
	}{
		{"the first round checks every domain and completes with its last check", []string{"a", "b"}, []schedOp{
			{0, "due", "", "round"}, {0, "round", "", "a,b"}, {0, "due", "", "wait"}, {0, "wait", "", "1m0s"},
			{2, "result", "a", ""}, {2, "last-round", "", "none"}, {2, "known", "", "a"},
			{3, "result", "b", ""}, {3, "last-round", "", "at 0s: 2 in 3s"}, {3, "known", "", "a,b"},
			{59, "due", "", "wait"}, {59, "wait", "", "1s"}, {60, "due", "", "round"},
		}},
		{"a round skips the domains in flight and those whose interval has not passed", []string{"a", "b", "slow"}, []schedOp{
			{0, "round", "", "a,b,slow"}, {1, "result", "a", ""}, {1, "result", "slow", ""},
			{60, "round", "", "a"}, {61, "result", "a", ""},
			{240, "round", "", "a"}, {241, "result", "a", ""},
			{300, "round", "", "a,slow"},
		}},
		{"a round with nothing to check completes at once", []string{"a"}, []schedOp{
			{0, "round", "", "a"}, {60, "round", "", ""}, {60, "last-round", "", "at 1m0s: 0 in 0s"},
		}},
		{"an event is served a Settle later; the next one waits for the event interval", []string{"a", "b"}, []schedOp{
			{0, "round", "", "a,b"}, {1, "result", "a", ""}, {1, "result", "b", ""},
			{10, "event agent_connected", "a", ""}, {10, "due", "", "wait"}, {10, "wait", "", "1s"},
			{11, "due", "", "relist"}, {11, "relist", "", "a"}, {12, "result", "a", ""},
			{13, "event agent_connected", "a", ""}, {13, "wait", "", "29s"}, {41, "due", "", "wait"},
			{42, "due", "", "relist"}, {42, "relist", "", "a"},
		}},
		{"an event for a domain in flight waits for its check to end", []string{"a"}, []schedOp{
			{0, "round", "", "a"}, {5, "event agent_connected", "a", ""}, {10, "due", "", "wait"},
			{10, "result", "a", ""}, {10, "due", "", "relist"}, {10, "relist", "", "a"},
		}},
		{"a new domain is checked at the listing after its event", []string{"a"}, []schedOp{
			{0, "round", "", "a"}, {1, "result", "a", ""}, {5, "add", "c", ""},
			{5, "event started", "c", ""}, {6, "due", "", "relist"}, {6, "relist", "", "c"},
		}},
		{"a stopped domain is forgotten at the next listing", []string{"a", "b"}, []schedOp{
			{0, "round", "", "a,b"}, {1, "result", "a", ""}, {1, "result", "b", ""}, {1, "known", "", "a,b"},
			{10, "remove", "b", ""}, {10, "event stopped", "b", ""}, {10, "due", "", "wait"},
			{11, "due", "", "relist"}, {11, "relist", "", ""}, {11, "known", "", "a"}, {11, "due", "", "wait"},
		}},
		{"a gone domain's result and an abandoned check are not recorded, but end their round", []string{"a", "b"}, []schedOp{
			{0, "round", "", "a,b"}, {1, "remove", "b", ""}, {1, "event stopped", "b", ""}, {2, "relist", "", ""},
			{3, "result", "b", ""}, {4, "abandon", "a", ""}, {4, "known", "", ""}, {4, "last-round", "", "at 0s: 2 in 4s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchedHarness(t, tt.domains...)
			for i, o := range tt.ops {
				h.apply(i, o)
			}
		})
	}
}

// TestSchedulerRetries follows a domain through soft states with a 30 s
// interval, a 5 s retry interval and --down-after 3.
func TestSchedulerRetries(t *testing.T) {
	tests := []struct {
		name string
		ops  []schedOp
	}{
		{"a failure is retried at the retry pace and confirmed at the third failure", []schedOp{
			{0, "round", "", "a,b"}, {1, "result", "b", ""}, {1, "verdict", "a=down", ""}, {1, "result", "a", ""},
			{1, "state", "a", "unknown failing 1/3"}, {1, "wait", "", "5s"}, {5, "due", "", "wait"},
			{6, "due", "", "relist"}, {6, "relist", "", "a"}, {7, "result", "a", ""}, {7, "state", "a", "unknown failing 2/3"},
			{12, "relist", "", "a"}, {12, "result", "a", ""}, {12, "state", "a", "down"},
			// Confirmed: back to the interval, no more retries.
			{12, "due", "", "wait"}, {12, "wait", "", "18s"}, {30, "round", "", "b"}, {31, "result", "b", ""}, {60, "round", "", "a,b"},
		}},
		{"a retry counts from the start of the failed check, not its end", []schedOp{
			{0, "round", "", "a,b"}, {1, "result", "b", ""}, {3, "verdict", "a=down", ""}, {3, "timed result", "a", ""},
			{3, "state", "a", "unknown failing 1/3"}, {3, "wait", "", "2s"}, {5, "relist", "", "a"},
			// A check that outlasted the retry interval is retried at once.
			{12, "timed result", "a", ""}, {12, "state", "a", "unknown failing 2/3"}, {12, "due", "", "relist"},
			{12, "relist", "", "a"}, {13, "timed result", "a", ""}, {13, "state", "a", "down"}, {13, "due", "", "wait"},
		}},
		{"a domain that recovers in a retry is not retried again", []schedOp{
			{0, "round", "", "a,b"}, {0, "result", "b", ""}, {0, "result", "a", ""}, {0, "state", "a", "ok"},
			{30, "round", "", "a,b"}, {30, "result", "b", ""}, {30, "verdict", "a=degraded", ""}, {30, "result", "a", ""},
			{30, "state", "a", "ok failing 1/3"}, {35, "relist", "", "a"}, {35, "verdict", "a=ok", ""}, {35, "result", "a", ""},
			{35, "state", "a", "ok"}, {35, "wait", "", "25s"},
		}},
		{"a round that checks a domain serves its retry", []schedOp{
			{0, "round", "", "a,b"}, {0, "result", "b", ""}, {26, "verdict", "a=down", ""}, {26, "result", "a", ""},
			{30, "round", "", "a,b"}, {30, "due", "", "wait"}, {30, "wait", "", "30s"},
		}},
		{"a domain gone in a soft state loses its retry", []schedOp{
			{0, "round", "", "a,b"}, {0, "result", "b", ""}, {0, "verdict", "a=down", ""}, {0, "result", "a", ""},
			{1, "remove", "a", ""}, {1, "event stopped", "a", ""}, {2, "relist", "", ""}, {2, "wait", "", "28s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchedHarness(t, "a", "b")
			h.s.interval, h.s.retry = 30*time.Second, 5*time.Second
			h.s.nextRound = exportertest.T0
			for i, o := range tt.ops {
				h.apply(i, o)
			}
		})
	}
}

// TestSchedulerPolicyRetryInterval follows domains a and b through soft
// states with a 30 s interval and --down-after 3, b with its own policy
// retry interval: b is retried at its pace, a at the Runner's.
func TestSchedulerPolicyRetryInterval(t *testing.T) {
	tests := []struct {
		name          string
		retry, bRetry time.Duration // the Runner's, b's policy's
		ops           []schedOp
	}{
		{"each domain is retried at its own pace", 5 * time.Second, 15 * time.Second, []schedOp{
			{0, "round", "", "a,b"}, {1, "verdict", "a=down", ""}, {1, "verdict", "b=down", ""},
			{1, "result", "a", ""}, {1, "result", "b", ""}, {1, "wait", "", "5s"},
			{6, "relist", "", "a"}, {7, "result", "a", ""}, {7, "state", "a", "unknown failing 2/3"},
			{12, "relist", "", "a"}, {12, "result", "a", ""}, {12, "state", "a", "down"},
			{12, "wait", "", "4s"}, {15, "due", "", "wait"}, {16, "due", "", "relist"},
			{16, "relist", "", "b"}, {16, "result", "b", ""}, {16, "state", "b", "unknown failing 2/3"},
			{30, "round", "", ""}, {30, "wait", "", "1s"},
			{31, "relist", "", "b"}, {31, "result", "b", ""}, {31, "state", "b", "down"},
		}},
		{"a policy retry interval as long as the interval means no retries", 5 * time.Second, 30 * time.Second, []schedOp{
			{0, "round", "", "a,b"}, {1, "verdict", "b=down", ""}, {1, "result", "a", ""}, {1, "result", "b", ""},
			{1, "state", "b", "unknown failing 1/3"}, {1, "wait", "", "29s"}, {30, "round", "", "a,b"},
		}},
		{"a policy retry interval retries where the Runner's would not", time.Minute, 5 * time.Second, []schedOp{
			{0, "round", "", "a,b"}, {1, "verdict", "a=down", ""}, {1, "verdict", "b=down", ""},
			{1, "result", "a", ""}, {1, "result", "b", ""}, {1, "wait", "", "5s"},
			{6, "relist", "", "b"}, {7, "result", "b", ""}, {7, "state", "b", "unknown failing 2/3"},
			{7, "state", "a", "unknown failing 1/3"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newSchedHarness(t, "a", "b")
			h.doms[1].Policy.RetryInterval = tt.bRetry
			h.s.interval, h.s.retry = 30*time.Second, tt.retry
			h.s.nextRound = exportertest.T0
			for i, o := range tt.ops {
				h.apply(i, o)
			}
		})
	}
}

func TestSchedulerLogs(t *testing.T) {
	h := newSchedHarness(t, "a", "bad")
	h.doms[1].Policy.Error = `vmcheck metadata ignored: interval: "soon" is not a duration`
	h.check["a"] = model.StateDown
	h.start(sec(0), h.s.startRound)
	h.finish("a", sec(1), sec(1), true)
	h.finish("bad", sec(1), sec(1), true)
	want := map[string]logrus.Level{
		`vmcheck metadata ignored: interval: "soon" is not a duration`: logrus.WarnLevel,
		"state changed":  logrus.InfoLevel, // both domains, first seen
		"domain checked": logrus.DebugLevel,
	}
	seen := map[string]bool{}
	for _, e := range h.hook.AllEntries() {
		if lvl, ok := want[e.Message]; ok {
			seen[e.Message] = true
			if e.Level != lvl {
				t.Errorf("%q logged at %s, want %s", e.Message, e.Level, lvl)
			}
		}
	}
	for msg := range want {
		if !seen[msg] && msg != "domain checked" {
			t.Errorf("no log line %q", msg)
		}
	}
	// A second check with the same state is logged at debug only.
	h.start(sec(60), h.s.startRound)
	h.finish("bad", sec(61), sec(61), true)
	if e := h.hook.LastEntry(); e.Message != "domain checked" || e.Level != logrus.DebugLevel {
		t.Errorf("a check without a state change logged %q at %s", e.Message, e.Level)
	}
}
