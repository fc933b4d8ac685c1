// Command simbench drives vmcheck's checker engine over simulated domains
// (bench/sim) and measures what a host with many VMs costs: round wall
// time, host CPU and allocations per check, peak RSS, /metrics scrape
// latency and the textfile write. It prints one JSON object
// (bench/report.SimReport) on stdout; `make bench` runs it through
// bench/cmd/labbench with latencies measured in the lab.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/exporter/cron"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/exporter/web"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/probe"
	"github.com/vmcheck/vmcheck/settings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simbench:", err)
		os.Exit(1)
	}
}

// flags are simbench's flags.
type flags struct {
	n, rounds, conc, agentCalls, workers, scrapes int
	memprofile, mode, metricsMode, policy         string
	lat                                           sim.Latency
	pingTimeout, timeout                          time.Duration
	silent                                        bool
}

// parseFlags parses args into flags and checks them.
func parseFlags(args []string) (flags, error) {
	fs := flag.NewFlagSet("simbench", flag.ContinueOnError)
	n := fs.Int("n", 1000, "simulated running domains")
	rounds := fs.Int("rounds", 5, "rounds (the first is cold)")
	conc := fs.Int("concurrency", settings.DefaultConcurrency, "checker concurrency: domains checked at once")
	agentCalls := fs.Int("agent-calls", 0, "agent calls in flight (0: vmcheck's default)")
	memprofile := fs.String("memprofile", "", "write a heap profile after the rounds to `FILE` (live and allocated since start)")
	workers := fs.Int("workers", 0, "libvirtd max_workers to model (0: unlimited)")
	rtt := fs.Duration("rtt", sim.DefaultLatency.RoundTrip, "agent round trip through libvirt")
	execLat := fs.Duration("exec", sim.DefaultLatency.Exec, "guest-exec round trip")
	ping := fs.Duration("ping", sim.DefaultLatency.PingReply, "in-guest runtime of a ping that gets its reply")
	jitter := fs.Float64("jitter", sim.DefaultLatency.Jitter, "latency spread (fraction)")
	pingTimeout := fs.Duration("ping-timeout", settings.DefaultPingTimeout, "vmcheck --ping-timeout")
	timeout := fs.Duration("timeout", settings.DefaultTimeout, "vmcheck --timeout")
	silent := fs.Bool("silent", false, "the external target does not answer")
	scrapes := fs.Int("scrapes", 10, "serve: scrapes between two rounds")
	mode := fs.String("mode", "serve", "serve: rounds, each followed by scrapes; cron: one round, then the textfile")
	metricsMode := fs.String("metrics", "cached", "serve: /metrics as `vmcheck serve` wires it (cached), or all behind promhttp (promhttp)")
	policy := fs.String("policy", "default", "probes of every domain: default (one echo to each target) or full (icmp count 5, mtu, dns, tcp, http)")
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	if *n < 1 || *rounds < 1 {
		return flags{}, errors.New("-n and -rounds must be positive")
	}
	if *mode != "serve" && *mode != "cron" {
		return flags{}, fmt.Errorf("-mode %q: want serve or cron", *mode)
	}
	if *metricsMode != "cached" && *metricsMode != "promhttp" {
		return flags{}, fmt.Errorf("-metrics %q: want cached or promhttp", *metricsMode)
	}
	return flags{
		n: *n, rounds: *rounds, conc: *conc, agentCalls: *agentCalls, workers: *workers, scrapes: *scrapes,
		memprofile: *memprofile, mode: *mode, metricsMode: *metricsMode, policy: *policy,
		lat:         sim.Latency{RoundTrip: *rtt, Exec: *execLat, PingReply: *ping, Jitter: *jitter},
		pingTimeout: *pingTimeout, timeout: *timeout, silent: *silent,
	}, nil
}

// host is the simulated host under test: its domains and their guests,
// the checker, and the History and /metrics server `vmcheck serve` builds.
type host struct {
	doms   []model.Domain
	guests []*sim.Guest
	byUUID map[string]model.Domain
	c      *checker.Checker
	h      *history.History
	reg    *prometheus.Registry
	opts   web.HandlerOpts
	srv    *httptest.Server
}

func run(args []string, out io.Writer) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	ext := netip.MustParseAddr("203.0.113.10")
	doms, guests := sim.Fleet(sim.FleetConfig{N: f.n, Latency: &f.lat, External: ext, Silent: f.silent, BusyboxEvery: 10, Workers: f.workers})
	// What serve and cron do after each listing, and serve every few
	// seconds.
	memLimit := schedule.SetMemoryTarget(len(doms))
	mctx, mstop := context.WithCancel(context.Background())
	defer mstop()
	go schedule.KeepMemoryTarget(mctx)
	probes, err := policyProbes(f.policy)
	if err != nil {
		return err
	}
	for i := range doms {
		doms[i].Policy.Probes = probes
	}
	c, err := newChecker(f, ext)
	if err != nil {
		return err
	}
	rep := newReport(f, c)
	s := newHost(doms, guests, c, f.metricsMode)
	defer s.srv.Close()

	last, err := s.rounds(context.Background(), f, &rep)
	if err != nil {
		return err
	}
	if f.mode == "cron" {
		err = s.textfile(last, &rep)
	} else {
		err = s.countSamples(&rep)
	}
	if err != nil {
		return err
	}
	if f.memprofile != "" {
		if err := writeHeapProfile(f.memprofile); err != nil {
			return err
		}
	}
	st := c.AgentCalls()
	rep.AgentCallLimit, rep.AgentCallPeak, rep.AgentCallBackoffs = st.Max, st.Peak, st.Backoffs
	rep.MemoryLimit = max(memLimit, schedule.SetMemoryTarget(len(doms)))
	rep.PeakRSSBytes = peakRSS()
	rep.RSSFileBytes = procStatus("RssFile")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapInuse = ms.HeapInuse

	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// newChecker is the checker of flags f, checking against ext.
func newChecker(f flags, ext netip.Addr) (*checker.Checker, error) {
	cfg := settings.Config{
		External:    []netip.Addr{ext},
		Timeout:     config.Duration(f.timeout),
		PingTimeout: config.Duration(f.pingTimeout),
		Concurrency: f.conc,
		AgentCalls:  f.agentCalls,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return checker.New(cfg), nil
}

// newReport is the SimReport of flags f and checker c, before measuring.
func newReport(f flags, c *checker.Checker) report.SimReport {
	lat := f.lat
	return report.SimReport{
		Mode: f.mode, Metrics: f.metricsMode, Domains: f.n, Concurrency: c.Config().Concurrency, Workers: f.workers,
		Latency:     report.SimLatency{RoundTrip: lat.RoundTrip.Seconds(), Exec: lat.Exec.Seconds(), PingReply: lat.PingReply.Seconds(), Jitter: lat.Jitter},
		PingTimeout: f.pingTimeout.Seconds(), Silent: f.silent, GOMAXPROCS: runtime.GOMAXPROCS(0), Policy: f.policy,
	}
}

// newHost wires the History and the /metrics server around doms: the
// registry and handler `vmcheck serve` builds (metricsMode cached), or
// every metric behind plain promhttp (promhttp, as before the cache).
func newHost(doms []model.Domain, guests []*sim.Guest, c *checker.Checker, metricsMode string) *host {
	s := &host{doms: doms, guests: guests, c: c, h: history.New(history.DefaultDownAfter)}
	s.h.SetLibvirtUp(true)
	s.byUUID = make(map[string]model.Domain, len(doms))
	for _, d := range doms {
		s.byUUID[d.UUID] = d
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.opts = web.HandlerOpts{Gatherer: s.reg, Collector: metrics.NewCollector(s.h, "bench")}
	if metricsMode == "promhttp" {
		s.reg.MustRegister(s.opts.Collector)
		s.opts.Collector = nil
	}
	s.srv = httptest.NewServer(web.NewHandler(s.h, s.opts))
	return s
}

// record lands the results of a round in the History.
func (s *host) record(rs []model.Result) {
	for _, r := range rs {
		s.h.Record(s.byUUID[r.UUID], r, nil)
	}
}

// rounds runs the rounds of f into rep (in serve mode each followed by
// scrapes) and returns the results of the last.
func (s *host) rounds(ctx context.Context, f flags, rep *report.SimReport) ([]model.Result, error) {
	var last []model.Result
	var fresh, cached []float64
	for range f.rounds {
		var round report.SimRound
		var start time.Time
		var wall time.Duration
		round, last, start, wall = s.checkRound(ctx, f.n)
		rep.Rounds = append(rep.Rounds, round)
		if f.mode == "cron" {
			break
		}
		// serve: the round lands in the History, then Prometheus scrapes:
		// once with every domain's metrics to rebuild, then between rounds.
		s.record(last)
		s.h.SetRound(history.Round{Start: start, Duration: wall, Domains: len(last)})
		lat, _, err := scrape(s.srv.URL, 1)
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, lat...)
		lat, size, err := scrape(s.srv.URL, f.scrapes)
		if err != nil {
			return nil, err
		}
		cached = append(cached, lat...)
		rep.ScrapeBytes = size
	}
	rep.Cold = rep.Rounds[0]
	rep.Warm = medianRound(rep.Rounds[min(1, len(rep.Rounds)-1):])
	rep.States = map[model.State]int{}
	for _, r := range last {
		rep.States[r.State]++
	}
	if f.mode != "cron" {
		rep.ScrapeFresh, rep.ScrapeCached = sim.Median(fresh), sim.Median(cached)
	}
	return last, nil
}

// checkRound runs one CheckAll over every domain (n of them) and measures
// it; it returns the measures, the results, and when and how long it ran.
func (s *host) checkRound(ctx context.Context, n int) (report.SimRound, []model.Result, time.Time, time.Duration) {
	calls0 := guestCalls(s.guests)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	start := time.Now()
	if os.Getenv("MIDPROF") != "" {
		go func() { time.Sleep(1200 * time.Millisecond); runtime.GC(); writeHeapProfile(os.Getenv("MIDPROF")) }()
	}
	last := s.c.CheckAll(ctx, s.doms)
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	durs := make([]float64, len(last))
	for i, r := range last {
		durs[i] = r.Duration
	}
	return report.SimRound{
		Wall:          wall.Seconds(),
		CPUPerCheck:   cpu.Seconds() / float64(n),
		AllocsPerChk:  float64(m1.Mallocs-m0.Mallocs) / float64(n),
		BytesPerCheck: float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
		AgentCalls:    float64(sum(guestCalls(s.guests))-sum(calls0)) / float64(n),
		AgentCallsOK:  okCalls(last, s.guests, calls0),
		MaxCheck:      slices.Max(durs),
		MedianCheck:   sim.Median(durs),
	}, last, start, wall
}

// textfile (cron: one round, then the textfile) records last and measures
// cron.WriteTextfile into rep.
func (s *host) textfile(last []model.Result, rep *report.SimReport) error {
	s.record(last)
	s.h.SetRound(history.Round{Start: time.Now(), Duration: time.Second, Domains: len(last)})
	dir, err := os.MkdirTemp("", "simbench")
	if err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	defer os.RemoveAll(dir)
	treg := prometheus.NewRegistry()
	treg.MustRegister(metrics.NewCollector(s.h, "bench"))
	start := time.Now()
	if err := cron.WriteTextfile(dir, "vmcheck.prom", treg); err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	rep.TextfileWrite = time.Since(start).Seconds()
	st, err := os.Stat(filepath.Join(dir, "vmcheck.prom"))
	if err != nil {
		return fmt.Errorf("textfile: %w", err)
	}
	rep.TextfileBytes = st.Size()
	return nil
}

// countSamples (serve) counts the samples /metrics exposes into rep.
func (s *host) countSamples(rep *report.SimReport) error {
	all := prometheus.Gatherers{s.reg}
	if s.opts.Collector != nil {
		vm := prometheus.NewRegistry()
		vm.MustRegister(metrics.NewCollector(s.h, "bench"))
		all = append(all, vm)
	}
	mfs, err := all.Gather()
	if err != nil {
		return fmt.Errorf("gather: %w", err)
	}
	for _, mf := range mfs {
		rep.ScrapeSamples += len(mf.GetMetric())
	}
	return nil
}

// scrape GETs /metrics k times as Prometheus does (gzip, keep-alive) and
// returns the latencies and the size of the last body.
func scrape(base string, k int) ([]float64, int, error) {
	var lat []float64
	var size int
	for range k {
		req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if err != nil {
			return nil, 0, fmt.Errorf("scrape: %w", err)
		}
		req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1")
		req.Header.Set("Accept-Encoding", "gzip")
		start := time.Now()
		resp, err := scrapeClient.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("scrape: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("scrape: status %d, %v", resp.StatusCode, err)
		}
		size = len(b)
		lat = append(lat, d.Seconds())
	}
	return lat, size, nil
}

// scrapeClient keeps its connection, as Prometheus does, and leaves the
// body compressed.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// writeHeapProfile writes the heap profile to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("memprofile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("memprofile: %w", err)
	}
	return f.Close()
}

// guestCalls is how many agent calls each guest has answered.
func guestCalls(gs []*sim.Guest) []int {
	out := make([]int, len(gs))
	for i, g := range gs {
		out[i] = g.Calls()
	}
	return out
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

// okCalls is the mean number of agent calls of the checks of rs that came
// out ok, counted from before (guestCalls before the round). Fleet names
// guest i sim-%04d.
func okCalls(rs []model.Result, gs []*sim.Guest, before []int) float64 {
	calls, n := 0, 0
	for _, r := range rs {
		var i int
		if _, err := fmt.Sscanf(r.Name, "sim-%d", &i); err != nil || i < 0 || i >= len(gs) || r.State != model.StateOK {
			continue
		}
		calls += gs[i].Calls() - before[i]
		n++
	}
	if n == 0 {
		return 0
	}
	return float64(calls) / float64(n)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

func medianRound(rs []report.SimRound) report.SimRound {
	pick := func(f func(report.SimRound) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return sim.Median(v)
	}
	return report.SimRound{
		Wall:          pick(func(r report.SimRound) float64 { return r.Wall }),
		CPUPerCheck:   pick(func(r report.SimRound) float64 { return r.CPUPerCheck }),
		AllocsPerChk:  pick(func(r report.SimRound) float64 { return r.AllocsPerChk }),
		BytesPerCheck: pick(func(r report.SimRound) float64 { return r.BytesPerCheck }),
		AgentCalls:    pick(func(r report.SimRound) float64 { return r.AgentCalls }),
		AgentCallsOK:  pick(func(r report.SimRound) float64 { return r.AgentCallsOK }),
		MaxCheck:      pick(func(r report.SimRound) float64 { return r.MaxCheck }),
		MedianCheck:   pick(func(r report.SimRound) float64 { return r.MedianCheck }),
	}
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb * 1024
		}
	}
	return 0
}

// policyProbes are the probes of -policy: none (the default echo) or the
// full policy of docs/probes.md, against the simulated external target.
func policyProbes(name string) ([]probe.Spec, error) {
	switch name {
	case "default":
		return nil, nil
	case "full":
	default:
		return nil, fmt.Errorf("-policy %q: want default or full", name)
	}
	var out []probe.Spec
	for _, f := range []string{"icmp,count=5", "mtu", "dns,name=www.example.test", "tcp,target=203.0.113.10:80", "http,url=http://203.0.113.10/"} {
		s, err := probe.ParseFlag(f)
		if err != nil {
			return nil, fmt.Errorf("-policy full: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}
