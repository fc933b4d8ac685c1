package cron

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// cronEngine checks every domain with the verdict the test gives it, at
// the time of a fake clock; selecting fails with selectErr.
type cronEngine struct {
	verdict map[string]model.State
	// diagnosis, if set, is the diagnosis of a domain's results.
	diagnosis map[string][]model.Diagnosis
	selectErr error
	clock     *fakeClock
	// cancel, if set, is called during the checks (SIGTERM mid-round).
	cancel func()
	// sequence, if set for a domain, is its verdicts check after check
	// (the last one repeats); calls counts its checks.
	sequence map[string][]model.State
	calls    map[string]int
	// passes lists the domains of each CheckAll, comma-separated.
	passes []string
}

func (e *cronEngine) Select(ctx context.Context, src model.Source) ([]model.Domain, error) {
	if e.selectErr != nil {
		return nil, e.selectErr
	}
	return src.Domains(ctx)
}

func (e *cronEngine) CheckAll(_ context.Context, doms []model.Domain) []model.Result {
	if e.cancel != nil {
		e.cancel()
	}
	var rs []model.Result
	names := make([]string, len(doms))
	for i, d := range doms {
		names[i] = d.Name
	}
	e.passes = append(e.passes, strings.Join(names, ","))
	for _, d := range doms {
		v := e.verdict[d.Name]
		if seq := e.sequence[d.Name]; len(seq) > 0 {
			v = seq[min(e.calls[d.Name], len(seq)-1)]
		}
		if e.calls != nil {
			e.calls[d.Name]++
		}
		if v == "" {
			v = model.StateOK
		}
		rs = append(rs, model.Result{Name: d.Name, UUID: d.UUID, State: v, CheckedAt: e.clock.now(),
			Probes:    []model.ProbeResult{{Kind: model.ProbeExternal, Target: "203.0.113.10", Addr: netip.MustParseAddr("203.0.113.10"), Status: model.ProbePassed, RTT: 0.0012}},
			Diagnosis: e.diagnosis[d.Name]})
	}
	e.clock.advance(1500 * time.Millisecond) // the round takes 1.5 s
	return rs
}

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// cronRun is one `vmcheck cron` run's parts, in a temporary directory.
type cronRun struct {
	dir   string
	state string // the state file
	host  *exportertest.FakeHost
	eng   *cronEngine
	clock *fakeClock
	log   *logtest.Hook
}

func newCronRun(t *testing.T, names ...string) *cronRun {
	clock := &fakeClock{t: exportertest.T0}
	dir := t.TempDir()
	return &cronRun{dir: dir, state: filepath.Join(dir, "state"), host: exportertest.NewFakeHost(names...), clock: clock,
		eng: &cronEngine{verdict: map[string]model.State{}, clock: clock}}
}

// run runs Cron once with a fresh History, as every cron run does, and
// returns the results, the error and the textfile ("" if absent).
func (c *cronRun) run(ctx context.Context, t *testing.T, downAfter int) ([]model.Result, string, error) {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	c.log = hook
	cron := &Job{
		Open: exportertest.ConnectFunc[schedule.Conn](c.host), Engine: c.eng, History: history.New(downAfter),
		TextfileDir: c.dir, TextfileName: "vmcheck.prom", StateFile: c.state,
		Version: "1.2.3", Log: log, Now: c.clock.now,
	}
	rs, err := cron.Run(ctx)
	b, rerr := os.ReadFile(filepath.Join(c.dir, "vmcheck.prom"))
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		t.Fatal(rerr)
	}
	return rs, string(b), err
}

func TestCronRounds(t *testing.T) {
	c := newCronRun(t, "web", "db")
	c.eng.verdict["db"] = model.StateDown
	tests := []struct {
		name string
		want []string // lines of the textfile
	}{
		{"first run: db's failure is pending", []string{
			`vmcheck_domain_state{domain="db",state="unknown",uuid="` + exportertest.UUIDOf("db") + `"} 1`,
			`vmcheck_consecutive_failures{domain="db",uuid="` + exportertest.UUIDOf("db") + `"} 1`,
			`vmcheck_domain_state{domain="web",state="ok",uuid="` + exportertest.UUIDOf("web") + `"} 1`,
			"vmcheck_libvirt_up 1", "vmcheck_round_domains 2", "vmcheck_round_duration_seconds 1.5",
		}},
		{"second run: the state file carries the streak, db is down", []string{
			`vmcheck_domain_state{domain="db",state="down",uuid="` + exportertest.UUIDOf("db") + `"} 1`,
			`vmcheck_consecutive_failures{domain="db",uuid="` + exportertest.UUIDOf("db") + `"} 2`,
		}},
	}
	for _, tt := range tests {
		rs, text, err := c.run(context.Background(), t, 2)
		if err != nil || len(rs) != 2 {
			t.Fatalf("%s: Run = %d results, %v", tt.name, len(rs), err)
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w+"\n") {
				t.Errorf("%s: textfile lacks %q:\n%s", tt.name, w, text)
			}
		}
		c.clock.advance(5 * time.Minute)
	}
	if st, err := os.Stat(filepath.Join(c.dir, "state")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, %v; want mode 0600", st, err)
	}
}

func TestCronLogLines(t *testing.T) {
	c := newCronRun(t, "web", "db")
	c.eng.verdict["db"] = model.StateDown
	c.eng.diagnosis = map[string][]model.Diagnosis{"db": {
		{Code: model.CodeHostLinkDown, Layer: model.LayerHost, NIC: "52:54:00:00:00:01", Detail: "link set down on the host"},
		{Code: model.CodeUpstreamUnreachable, Layer: model.LayerNetwork, Detail: "beyond the gateway"},
	}}
	if _, _, err := c.run(context.Background(), t, 1); err != nil {
		t.Fatal(err)
	}
	byDomain := map[string]*logrus.Entry{}
	for _, e := range c.log.AllEntries() {
		if e.Message == "vm checked" {
			byDomain[e.Data["domain"].(string)] = e
		}
	}
	tests := []struct {
		domain string
		level  logrus.Level
		fields map[string]any
	}{
		{"web", logrus.InfoLevel, map[string]any{"state": "ok", "verdict": "ok", "consecutive_failures": 0,
			"since": exportertest.T0.UTC().Format(time.RFC3339)}},
		{"db", logrus.WarnLevel, map[string]any{"state": "down", "verdict": "down", "consecutive_failures": 1}},
	}
	for _, tt := range tests {
		e := byDomain[tt.domain]
		if e == nil {
			t.Errorf("no log line for %s", tt.domain)
			continue
		}
		if e.Level != tt.level {
			t.Errorf("%s: level %s, want %s", tt.domain, e.Level, tt.level)
		}
		for k, v := range tt.fields {
			if e.Data[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.domain, k, e.Data[k], v)
			}
		}
	}
	// The probes are one field with stable keys, not one field per target.
	if p, _ := byDomain["web"].Data["probes"].([]output.LogProbe); len(p) != 1 || p[0].Target != "203.0.113.10" || p[0].Outcome != "ok 1.2ms" {
		t.Errorf("web: probes = %+v, want the external probe ok 1.2ms", byDomain["web"].Data["probes"])
	}
	// So is the diagnosis: {code, layer, nic} per cause, empty when ok.
	wantDiag := []output.LogDiagnosis{{Code: "host_link_down", Layer: "host", NIC: "52:54:00:00:00:01"}, {Code: "upstream_unreachable", Layer: "network"}}
	if d, _ := byDomain["db"].Data["diagnosis"].([]output.LogDiagnosis); !slices.Equal(d, wantDiag) {
		t.Errorf("db: diagnosis = %+v, want %+v", byDomain["db"].Data["diagnosis"], wantDiag)
	}
	if d, ok := byDomain["web"].Data["diagnosis"].([]output.LogDiagnosis); !ok || len(d) != 0 {
		t.Errorf("web: diagnosis = %#v, want an empty list", byDomain["web"].Data["diagnosis"])
	}
}

func TestCronHostUnreachable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *cronRun)
	}{
		{"connect fails", func(c *cronRun) { c.host.Refuse = true }},
		{"listing fails", func(c *cronRun) { c.eng.selectErr = errors.New("listing domains: hung") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCronRun(t, "web")
			tt.setup(c)
			_, text, err := c.run(context.Background(), t, 3)
			if err == nil {
				t.Errorf("Run = nil error, want the host's")
			}
			if !strings.Contains(text, "vmcheck_libvirt_up 0") || strings.Contains(text, "vmcheck_domain_state") {
				t.Errorf("with the host unreachable the textfile must say vmcheck_libvirt_up 0 and hold no VM:\n%s", text)
			}
		})
	}
}

func TestCronInterrupted(t *testing.T) {
	c := newCronRun(t, "web")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.eng.cancel = cancel
	if _, text, err := c.run(ctx, t, 3); !errors.Is(err, ErrInterrupted) || text != "" {
		t.Errorf("Run interrupted = %v with textfile %q, want ErrInterrupted and no textfile", err, text)
	}
}

func TestCronBadStateFile(t *testing.T) {
	tests := []struct {
		name     string
		content  string // of the state file; "" puts it under a regular file
		warnings []string
	}{
		{"not JSON", "{", []string{"ignoring the state file; starting without history"}},
		{"unreachable", "", []string{"cannot read the state file; starting without history", "cannot save the state file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCronRun(t, "web")
			if tt.content == "" {
				c.state = filepath.Join(c.dir, "vmcheck.prom", "state") // ENOTDIR once the textfile exists
				if err := os.WriteFile(filepath.Join(c.dir, "vmcheck.prom"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(c.state, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			rs, _, err := c.run(context.Background(), t, 3)
			if err != nil || len(rs) != 1 {
				t.Fatalf("Run = %d results, %v; a bad state file must not fail the run", len(rs), err)
			}
			warned := map[string]bool{}
			for _, e := range c.log.AllEntries() {
				warned[e.Message] = e.Level == logrus.WarnLevel
			}
			for _, w := range tt.warnings {
				if !warned[w] {
					t.Errorf("no warning %q", w)
				}
			}
		})
	}
}

// TestCronRetries runs cron with --down-after 3, a 10 s retry interval and
// a fake sleep: one run confirms an outage, a recovery ends the retries,
// the budget (3 × --timeout) bounds them and the state file's streak
// counts.
func TestCronRetries(t *testing.T) {
	down, ok := model.StateDown, model.StateOK
	tests := []struct {
		name    string
		seq     []model.State
		timeout time.Duration
		stateFC int // the state file's streak for db (0: no state file)
		want    string
		checks  int
		slept   time.Duration
	}{
		// The round takes 1.5 s; a retry is due 10 s after the start of
		// the check that failed (as serve counts it), so each wait is 8.5 s.
		{"a lasting failure is confirmed in one run", []model.State{down}, 0, 0, "down 3", 3, 17 * time.Second},
		{"a recovery ends the retries", []model.State{down, ok}, 0, 0, "ok 0", 2, 8500 * time.Millisecond},
		// A 12 s budget: a retry at 10 s could not end within it.
		{"the budget stops the retries", []model.State{down}, 4 * time.Second, 0, "unknown 1 pending", 1, 0},
		// A 27 s budget: the retry at 10 s fits, the one at 20 s does not.
		{"the budget allows what fits", []model.State{down}, 9 * time.Second, 0, "unknown 2 pending", 2, 8500 * time.Millisecond},
		{"the state file's streak counts", []model.State{down}, 0, 1, "down 3", 2, 8500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: exportertest.T0}
			eng := &cronEngine{clock: clock, calls: map[string]int{}, sequence: map[string][]model.State{"db": tt.seq}}
			dir := t.TempDir()
			h := history.New(3)
			cron := &Job{
				Open: exportertest.ConnectFunc[schedule.Conn](exportertest.NewFakeHost("web", "db")), Engine: eng, History: h,
				TextfileDir: dir, TextfileName: "vmcheck.prom", Now: clock.now,
				RetryInterval: 10 * time.Second, Timeout: tt.timeout,
			}
			if tt.stateFC > 0 {
				cron.StateFile = filepath.Join(dir, "state")
				prev := history.New(3)
				prev.Record(model.Domain{}, model.Result{Name: "db", UUID: exportertest.UUIDOf("db"), State: down, CheckedAt: exportertest.T0}, nil)
				saveState(schedule.LogOrDiscard(nil), prev, cron.StateFile)
			}
			var slept time.Duration
			cron.Sleep = func(_ context.Context, d time.Duration) error {
				slept += d
				clock.advance(d)
				return nil
			}
			rs, err := cron.Run(context.Background())
			if err != nil || len(rs) != 2 {
				t.Fatalf("Run = %d results, %v", len(rs), err)
			}
			e, _ := h.Snapshot().Lookup(exportertest.UUIDOf("db"))
			got := fmt.Sprintf("%s %d", e.State, e.ConsecutiveFailures)
			if e.Pending {
				got += " pending"
			}
			if got != tt.want || eng.calls["db"] != tt.checks || slept != tt.slept || eng.calls["web"] != 1 {
				t.Errorf("db = %q after %d checks, slept %s (web checked %d times); want %q, %d, %s, once",
					got, eng.calls["db"], slept, eng.calls["web"], tt.want, tt.checks, tt.slept)
			}
			if i := slices.IndexFunc(rs, func(r model.Result) bool { return r.Name == "db" }); rs[i].State != tt.seq[min(tt.checks, len(tt.seq))-1] {
				t.Errorf("db's result = %s, want its last check's", rs[i].State)
			}
		})
	}
}

// TestCronPolicyRetryInterval runs cron with --down-after 3, the default
// timeout (a 90 s budget), a fake sleep and checks of 1.5 s, web and db
// failing; db's policy sets its own retry interval: each is re-checked
// at its own pace, the domains due together in one pass.
func TestCronPolicyRetryInterval(t *testing.T) {
	tests := []struct {
		name          string
		retry, dbWait time.Duration // the Cron's, db's policy's
		want          string        // web's and db's states and streaks
		passes        string
		slept         time.Duration
	}{
		// Retries are due a retry interval after the start of the check
		// that failed, as serve counts them: web's at 10 s and 20 s, db's
		// at 20 s and 40 s; the domains due together share a pass.
		{"each at its own pace", 10 * time.Second, 20 * time.Second, "down 3, down 3",
			"web,db web web,db db", 35500 * time.Millisecond},
		{"together when due together", 10 * time.Second, 10 * time.Second, "down 3, down 3", "web,db web,db web,db", 17 * time.Second},
		{"a policy retry interval without the Cron's", 0, 10 * time.Second, "unknown 1 pending, down 3", "web,db db db", 17 * time.Second},
		// db's first retry is at 50 s; its second, at 100 s, could not end within 90 s.
		{"the budget bounds each", 10 * time.Second, 50 * time.Second, "down 3, unknown 2 pending", "web,db web web db", 45500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: exportertest.T0}
			eng := &cronEngine{clock: clock, calls: map[string]int{}, verdict: map[string]model.State{"web": model.StateDown, "db": model.StateDown}}
			host := exportertest.NewFakeHost("web", "db")
			host.Doms[1].Policy.RetryInterval = tt.dbWait
			h := history.New(3)
			var slept time.Duration
			cron := &Job{
				Open: exportertest.ConnectFunc[schedule.Conn](host), Engine: eng, History: h,
				TextfileDir: t.TempDir(), TextfileName: "vmcheck.prom", Now: clock.now, RetryInterval: tt.retry,
				Sleep: func(_ context.Context, d time.Duration) error {
					slept += d
					clock.advance(d)
					return nil
				},
			}
			if _, err := cron.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var states []string
			for _, name := range []string{"web", "db"} {
				e, _ := h.Snapshot().Lookup(exportertest.UUIDOf(name))
				st := fmt.Sprintf("%s %d", e.State, e.ConsecutiveFailures)
				if e.Pending {
					st += " pending"
				}
				states = append(states, st)
			}
			got, passes := strings.Join(states, ", "), strings.Join(eng.passes, " ")
			if got != tt.want || passes != tt.passes || slept != tt.slept {
				t.Errorf("states %q after passes %q, slept %s; want %q, %q, %s", got, passes, slept, tt.want, tt.passes, tt.slept)
			}
		})
	}
}
