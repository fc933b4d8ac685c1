//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
)

// The chaos soak: one `vmcheck serve` against the full lab while faults
// from the lab's list are injected at random, one at a time. After each
// fault and after each undo, every VM's reported state must settle to the
// lab's truth within soakSettle and hold for a round. Serve's goroutines,
// open fds and RSS are sampled at every scrape (about once a second) and
// must stay flat: the last third of the run against its warm-up (soakLeaks). It runs for $VMCHECK_SOAK_DURATION (default 3m; `make
// soak` gives 10m) with the fault order of $VMCHECK_SOAK_SEED (default: the
// clock, printed), and writes soak.json to $VMCHECK_SOAK_REPORT (default:
// a directory under $TMPDIR).
const (
	soakInterval  = 5 * time.Second
	soakRetry     = 2 * time.Second
	soakDownAfter = 2
	// soakSettle bounds the time from a fault (or its undo) to the truth
	// on /metrics: interval + (down-after − 1) × retry is 7 s; the rest is
	// room for the checks of 15 TCG guests on two shared cores.
	soakSettle = 75 * time.Second
	// absent is the truth of a domain that is not running: no series.
	absent model.State = "absent"
)

// soakTruth is the state every lab domain must settle to.
type soakTruth map[string]model.State

// soakFault is one fault of the lab's list, with its undo and the truth
// while it is in place.
type soakFault struct {
	name    string
	targets []string // one is picked at random; none: the fault is lab-wide
	apply   []string // lab/lab.sh arguments; "DOM" is the target
	undo    []string
	truth   func(base soakTruth, dom string) soakTruth
}

// Guests whose checks pass in the healthy lab, by what a fault can do to
// them (lab-windows runs the emulated Windows agent: no /bin/busybox exec).
var (
	soakHealthy  = []string{"lab-debian", "lab-busybox", "lab-windows", "lab-ipv6", "lab-freeze"}
	soakLinux    = []string{"lab-debian", "lab-busybox", "lab-freeze"}
	soakRebooted = []string{"lab-debian", "lab-busybox", "lab-twonic", "lab-freeze"}
)

// with returns base with dom's state set to s.
func with(s model.State) func(soakTruth, string) soakTruth {
	return func(base soakTruth, dom string) soakTruth {
		t := base.copy()
		t[dom] = s
		return t
	}
}

// everyOK maps the healthy lab's ok domains through f (name → new state).
func everyOK(f func(name string) model.State) func(soakTruth, string) soakTruth {
	return func(base soakTruth, _ string) soakTruth {
		t := base.copy()
		for name, s := range base {
			if s == model.StateOK {
				t[name] = f(name)
			}
		}
		return t
	}
}

func same(base soakTruth, _ string) soakTruth { return base.copy() }

func (t soakTruth) copy() soakTruth {
	c := make(soakTruth, len(t))
	for k, v := range t {
		c[k] = v
	}
	return c
}

// soakFaults is the fault list. One fault is in place at a time, so a
// lab-wide fault meets the healthy lab.
var soakFaults = []soakFault{
	{name: "link-down", targets: soakHealthy, apply: []string{"fault", "link-down", "DOM"},
		undo: []string{"fault", "link-up", "DOM"}, truth: with(model.StateDown)},
	{name: "agent-freeze", targets: soakLinux, apply: []string{"fault", "freeze-agent", "DOM"},
		undo: []string{"fault", "thaw-agent", "DOM"}, truth: with(model.StateUnknown)},
	{name: "destroy", targets: soakRebooted, apply: []string{"fault", "destroy", "DOM"},
		undo: []string{"fault", "start", "DOM"}, truth: with(absent)},
	{name: "pause", targets: soakHealthy, apply: []string{"fault", "pause", "DOM"},
		undo: []string{"fault", "resume", "DOM"}, truth: with(model.StatePaused)},
	{name: "gateway-drop-icmp", apply: []string{"fault", "gateway-drop-icmp"}, undo: []string{"fault", "gateway-allow-icmp"},
		truth: everyOK(func(string) model.State { return model.StateDegraded })},
	{name: "gateway-absent", apply: []string{"fault", "gateway-absent"}, undo: []string{"fault", "gateway-present"},
		truth: everyOK(func(name string) model.State {
			switch name {
			case "lab-ipv6": // its gateway is IPv6 only
				return model.StateOK
			case "lab-twonic": // its internal gateway still answers
				return model.StateDegraded
			}
			return model.StateDown
		})},
	{name: "upstream-cut", apply: []string{"fault", "upstream-cut"}, undo: []string{"fault", "upstream-restore"},
		truth: everyOK(func(string) model.State { return model.StateDegraded })},
	{name: "libvirtd-restart", apply: []string{"fault", "restart-libvirtd"}, truth: same},
	{name: "hostile-reboot", targets: []string{"lab-hostile", "lab-hostile-slow"}, apply: []string{"fault", "reset", "DOM"},
		truth: same},
}

// soakSample is serve's resources at one scrape.
type soakSample struct {
	At         float64 `json:"at_seconds"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	RSSMiB     float64 `json:"rss_mib"`
}

// soakEvent is one fault or undo and how the verdicts settled after it.
type soakEvent struct {
	Fault   string   `json:"fault"`
	Target  string   `json:"target,omitempty"`
	Step    string   `json:"step"` // apply or undo
	At      float64  `json:"at_seconds"`
	Settled float64  `json:"settled_seconds,omitempty"`
	Wrong   []string `json:"wrong,omitempty"`
}

// soakReport is soak.json.
type soakReport struct {
	Seed     uint64       `json:"seed"`
	Duration string       `json:"duration"`
	Faults   int          `json:"faults"`
	Checks   int          `json:"checks"`
	Wrong    int          `json:"wrong_verdicts"`
	Warm     soakLevels   `json:"warm_up"`
	Last     soakLevels   `json:"last_third"`
	Leaks    []string     `json:"leaks,omitempty"`
	Events   []soakEvent  `json:"events"`
	Samples  []soakSample `json:"samples"`
	Summary  string       `json:"summary"`
}

// soakServe is the serve under soak; its log goes to a file, its
// resources to samples.
type soakServe struct {
	cmd     *exec.Cmd
	addr    string
	log     string
	done    chan error
	start   time.Time
	samples []soakSample
}

func TestSoak(t *testing.T) {
	dur, seed := soakParams(t)
	dir := os.Getenv("VMCHECK_SOAK_REPORT")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := soakStart(t, dir)
	base := soakTruth{}
	for name, w := range fullLab {
		base[name] = w.state
	}
	rep := &soakReport{Seed: seed, Duration: dur.String()}
	start := s.start
	since := func() float64 { return time.Since(start).Seconds() }
	rep.Events = append(rep.Events, soakSettleTo(t, s, "start", "", "settle", base, since))

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	order := rng.Perm(len(soakFaults))
	for i := 0; time.Since(start) < dur; i++ {
		f := soakFaults[order[i%len(order)]]
		if i%len(order) == len(order)-1 {
			order = rng.Perm(len(soakFaults))
		}
		dom := ""
		if len(f.targets) > 0 {
			dom = f.targets[rng.IntN(len(f.targets))]
		}
		rep.Faults++
		soakLab(t, f.apply, dom)
		rep.Events = append(rep.Events, soakSettleTo(t, s, f.name, dom, "apply", f.truth(base, dom), since))
		if f.undo != nil {
			soakLab(t, f.undo, dom)
		}
		rep.Events = append(rep.Events, soakSettleTo(t, s, f.name, dom, "undo", base, since))
	}
	soakFinish(t, s, rep, dir, time.Since(start))
}

// soakParams reads the soak's duration and seed from the environment.
func soakParams(t *testing.T) (time.Duration, uint64) {
	dur := 3 * time.Minute
	if v := os.Getenv("VMCHECK_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("VMCHECK_SOAK_DURATION=%q: want a positive Go duration such as 10m", v)
		}
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("VMCHECK_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VMCHECK_SOAK_SEED=%q: want an unsigned integer", v)
		}
		seed = n
	}
	t.Logf("soak: %s, seed %d (VMCHECK_SOAK_SEED=%d repeats the fault order)", dur, seed, seed)
	return dur, seed
}

// soakStart starts serve with short rounds and retries, logging every
// check to a file in dir.
func soakStart(t *testing.T, dir string) *soakServe {
	t.Helper()
	s := &soakServe{addr: expFreeAddr(t), log: filepath.Join(dir, "serve.log"), done: make(chan error, 1), start: time.Now()}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(vmcheck, "serve", "-c", labURI, "--web.listen-address", s.addr,
		"--external", external4, "--external", external6, "--interval", soakInterval.String(),
		"--retry-interval", soakRetry.String(), "--down-after", strconv.Itoa(soakDownAfter),
		"--timeout", "15s", "--ping-timeout", "1s", "--log-level", "debug")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// soakLab runs a lab step with "DOM" replaced by dom.
func soakLab(t *testing.T, args []string, dom string) {
	t.Helper()
	a := make([]string, len(args))
	for i, v := range args {
		a[i] = strings.ReplaceAll(v, "DOM", dom)
	}
	lab(t, a...)
}

// soakStates returns each domain's reported state on /metrics, and the
// exposition.
func soakStates(s *soakServe) (map[string]model.State, expMetrics, error) {
	b, err := expGet("http://" + s.addr + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	var m expMetrics
	if m, err = parseExposition(b); err != nil {
		return nil, nil, err
	}
	got := map[string]model.State{}
	if mf, ok := m["vmcheck_domain_state"]; ok {
		for _, series := range mf.Metric {
			var dom, st string
			for _, l := range series.Label {
				switch l.GetName() {
				case "domain":
					dom = l.GetValue()
				case "state":
					st = l.GetValue()
				}
			}
			if series.GetGauge().GetValue() == 1 {
				got[dom] = model.State(st)
			}
		}
	}
	return got, m, nil
}

// soakDiff lists the domains whose reported state is not the truth.
func soakDiff(want soakTruth, got map[string]model.State) []string {
	var wrong []string
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			g = absent
		}
		if g != w {
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", name, g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			wrong = append(wrong, fmt.Sprintf("%s is reported but is not a lab domain", name))
		}
	}
	sort.Strings(wrong)
	return wrong
}

// soakSettleTo waits until /metrics shows want for every domain in two
// scrapes a round apart, for at most soakSettle; what is still wrong then
// is a wrong verdict.
func soakSettleTo(t *testing.T, s *soakServe, fault, dom, step string, want soakTruth, since func() float64) soakEvent {
	t.Helper()
	ev := soakEvent{Fault: fault, Target: dom, Step: step, At: since()}
	began := time.Now()
	deadline := began.Add(soakSettle)
	var matched time.Time
	var wrong []string
	for time.Now().Before(deadline) {
		got, m, err := soakStates(s)
		if err != nil {
			wrong = []string{err.Error()}
		} else {
			wrong = soakDiff(want, got)
			s.measure(m)
		}
		if len(wrong) > 0 {
			matched = time.Time{}
		} else if matched.IsZero() {
			matched = time.Now()
		} else if time.Since(matched) >= soakInterval {
			ev.Settled = matched.Sub(began).Seconds()
			t.Logf("soak %6.1fs %-18s %-17s %-6s settled in %.1fs", ev.At, fault, dom, step, ev.Settled)
			return ev
		}
		select {
		case err := <-s.done:
			t.Fatalf("vmcheck serve exited during the soak: %v\n%s", err, soakTail(s))
		case <-time.After(time.Second):
		}
	}
	ev.Wrong = wrong
	t.Errorf("soak %6.1fs %s %s %s: not settled within %s: %s", ev.At, fault, dom, step, soakSettle, strings.Join(wrong, "; "))
	return ev
}

// measure samples serve's goroutines (from the scrape m), open fds and RSS.
func (s *soakServe) measure(m expMetrics) {
	smp := soakSample{At: time.Since(s.start).Seconds()}
	v, _ := m.value("go_goroutines", nil)
	smp.Goroutines = int(v)
	pid := s.cmd.Process.Pid
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		smp.FDs = len(fds)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				smp.RSSMiB = kb / 1024
			}
		}
	}
	s.samples = append(s.samples, smp)
}

// soakLevels are the resource levels of one part of the run: the median
// of goroutines and fds (checks in flight add goroutines for a moment, a
// libvirtd restart drops serve's connection for a moment; a leak moves the
// median) and the peak RSS (the Go heap breathes between collections; a
// leak raises the peaks).
type soakLevels struct {
	Goroutines int     `json:"median_goroutines"`
	FDs        int     `json:"median_fds"`
	RSSMiB     float64 `json:"max_rss_mib"`
}

func levels(samples []soakSample) soakLevels {
	var l soakLevels
	g, f := make([]int, len(samples)), make([]int, len(samples))
	for i, s := range samples {
		g[i], f[i], l.RSSMiB = s.Goroutines, s.FDs, max(l.RSSMiB, s.RSSMiB)
	}
	slices.Sort(g)
	slices.Sort(f)
	l.Goroutines, l.FDs = g[len(g)/2], f[len(f)/2]
	return l
}

// soakLeaks compares the last third of the run with its warm-up (the
// first half, at most two minutes: the time serve takes to fill its
// per-VM history and recorder and to meet every guest's worst reply): the
// goroutine median within max(5, 10 %), the fd median within 3, the RSS
// peak within 25 %.
func soakLeaks(samples []soakSample) (warm, last soakLevels, leaks []string) {
	if len(samples) < 6 {
		return warm, last, []string{fmt.Sprintf("only %d resource samples: too short a soak to tell", len(samples))}
	}
	end := samples[len(samples)-1].At
	warmEnd := min(end/2, 120)
	w := slices.IndexFunc(samples, func(s soakSample) bool { return s.At > warmEnd })
	l := slices.IndexFunc(samples, func(s soakSample) bool { return s.At >= end*2/3 })
	warm, last = levels(samples[:max(w, 1)]), levels(samples[l:])
	if lim := max(warm.Goroutines+5, warm.Goroutines*11/10); last.Goroutines > lim {
		leaks = append(leaks, fmt.Sprintf("goroutines: median %d in the last third, %d in the warm-up", last.Goroutines, warm.Goroutines))
	}
	if last.FDs > warm.FDs+3 {
		leaks = append(leaks, fmt.Sprintf("open fds: median %d in the last third, %d in the warm-up", last.FDs, warm.FDs))
	}
	if last.RSSMiB > warm.RSSMiB*1.25 {
		leaks = append(leaks, fmt.Sprintf("RSS peaked at %.1f MiB in the last third, %.1f MiB in the warm-up (+%.0f%%)", last.RSSMiB, warm.RSSMiB, 100*(last.RSSMiB/warm.RSSMiB-1)))
	}
	return warm, last, leaks
}

// soakFinish stops serve, counts its checks, writes soak.json and fails the
// test on a wrong verdict or a leak.
func soakFinish(t *testing.T, s *soakServe, rep *soakReport, dir string, took time.Duration) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err == nil {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("vmcheck serve did not exit within 30s of SIGTERM")
		}
	}
	if b, err := os.ReadFile(s.log); err == nil {
		rep.Checks = strings.Count(string(b), `msg="domain checked"`) + strings.Count(string(b), `msg="state changed"`)
	}
	for _, ev := range rep.Events {
		rep.Wrong += len(ev.Wrong)
	}
	rep.Samples = s.samples
	warm, last, leaks := soakLeaks(rep.Samples)
	rep.Warm, rep.Last, rep.Leaks = warm, last, leaks
	verdict := "PASS"
	if rep.Wrong > 0 || len(rep.Leaks) > 0 {
		verdict = "FAIL"
	}
	rep.Summary = fmt.Sprintf("soak %s: %d faults, %d checks, %d wrong verdicts; warm-up → last third: goroutines (median) %d→%d, fds (median) %d→%d, RSS (peak) %.0f→%.0f MiB (%+.0f%%): %s",
		took.Round(time.Second), rep.Faults, rep.Checks, rep.Wrong, warm.Goroutines, last.Goroutines, warm.FDs, last.FDs,
		warm.RSSMiB, last.RSSMiB, 100*(last.RSSMiB/max(warm.RSSMiB, 1)-1), verdict)
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "soak.json"), append(b, '\n'), 0o644); err != nil {
		t.Error(err)
	}
	t.Log(rep.Summary)
	fmt.Println(rep.Summary)
	for _, l := range rep.Leaks {
		t.Errorf("soak leak: %s", l)
	}
	if rep.Checks == 0 {
		t.Errorf("serve logged no checks during the soak (%s)", s.log)
	}
}

func soakTail(s *soakServe) string {
	b, _ := os.ReadFile(s.log)
	return expTail(string(b), 40)
}
