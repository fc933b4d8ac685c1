package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/internal/timing"
)

// The time-to-detect benchmark (issue "Detect fast, stay cheap, never
// drift"): the host link of lab-debian is cut at a random moment of the
// round, and two serves watching the same guests time it side by side:
// one with retries (--retry-interval 5s), one without (a retry interval
// equal to the interval: the plain rounds of before). A real Prometheus
// scrapes both with the shipped alert rules, unchanged, and times
// VMCheckLinkDown from the cut to pending and to firing.
const (
	detectGuest     = "lab-debian"
	detectInterval  = 30 * time.Second
	detectRetry     = 5 * time.Second
	detectDownAfter = 3
	detectScrape    = 15 * time.Second // scrape and evaluation interval
	detectWait      = 5 * time.Minute  // the longest wait for one event
	detectGoal      = 48.0             // seconds, cut → down on /metrics
)

// detectGuests are the guests both serves check (guests8 without
// lab-freeze, which the isolation benchmark may leave rebooting).
var detectGuests = []string{"lab-debian", "lab-busybox", "lab-windows", "lab-twonic", "lab-ipv6", "lab-noping", "lab-noexec"}

// detectServe is one serve of the benchmark.
type detectServe struct {
	name     string
	addr     string
	retry    time.Duration
	defaults bool // the shipped --interval, --retry-interval, --down-after
	cmd      *exec.Cmd
}

// detectBenchmarks runs reps link cuts against both serves and Prometheus.
func detectBenchmarks(ctx context.Context, o options, lab *Lab, rep *report.Results) error {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		return fmt.Errorf("time to detect needs Debian's prometheus (apt-get install prometheus): %w", err)
	}
	logf("time to detect: making sure %s are up", strings.Join(detectGuests, ","))
	if err := streamed(ctx, lab.script, "up", "--guests", strings.Join(detectGuests, ",")); err != nil {
		return err
	}
	serves := []*detectServe{
		{name: "retries", addr: "127.0.0.1:19931", retry: detectRetry},
		{name: "rounds", addr: "127.0.0.1:19932", retry: detectInterval},
		// The shipped defaults: no timing flag at all.
		{name: "defaults", addr: "127.0.0.1:19933", defaults: true},
	}
	for _, s := range serves {
		if err := s.start(ctx, o, lab); err != nil {
			return err
		}
		defer s.stop()
	}
	promAddr := "127.0.0.1:19939"
	stop, err := startPrometheus(ctx, o, prom, promAddr, serves)
	if err != nil {
		return err
	}
	defer stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for r := range o.detectReps {
		if err := detectSettled(ctx, serves, promAddr); err != nil {
			return err
		}
		runs, err := detectOnce(ctx, lab, serves, promAddr, rng)
		if err != nil {
			return err
		}
		for _, d := range runs {
			logf("  cut %d, %s: down after %.1fs, alert pending %.1fs, firing %.1fs (cut after a random wait of %.1fs)", r+1, d.Serve, d.Down, d.Pending, d.Firing, d.Offset)
		}
		rep.Detect = append(rep.Detect, runs...)
	}
	return nil
}

func (s *detectServe) start(ctx context.Context, o options, lab *Lab) error {
	args := []string{"serve", "-c", lab.URI, "--external", lab.External, "--web.listen-address", s.addr, "--log-level", "error"}
	if !s.defaults {
		args = append(args, "--interval", detectInterval.String(), "--retry-interval", s.retry.String(),
			"--down-after", strconv.Itoa(detectDownAfter))
	}
	for _, d := range detectGuests {
		args = append(args, "--domain", d)
	}
	s.cmd = exec.CommandContext(ctx, o.vmcheck, args...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("vmcheck serve: %w", err)
	}
	return nil
}

func (s *detectServe) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// startPrometheus runs Prometheus on loopback, scraping the serves every
// detectScrape with deploy/prometheus/alerts.yml as shipped.
func startPrometheus(ctx context.Context, o options, bin, addr string, serves []*detectServe) (func(), error) {
	dir, err := os.MkdirTemp("", "vmcheck-bench-prometheus")
	if err != nil {
		return nil, err
	}
	rules, err := os.ReadFile(filepath.Join(o.repo, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, s := range serves {
		targets = append(targets, fmt.Sprintf("{targets: [%q], labels: {serve: %s}}", s.addr, s.name))
	}
	cfg := fmt.Sprintf("global: {scrape_interval: %s, evaluation_interval: %s, scrape_timeout: 10s}\n"+
		"rule_files: [alerts.yml]\nscrape_configs:\n  - job_name: vmcheck\n    static_configs: [%s]\n",
		detectScrape, detectScrape, strings.Join(targets, ", "))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }, nil
}

// detectSettled waits until both serves report the guest ok and no
// VMCheckLinkDown is pending or firing for it.
func detectSettled(ctx context.Context, serves []*detectServe, prom string) error {
	return waitFor(ctx, "both serves to report "+detectGuest+" ok and its alert to clear", detectWait, func() (bool, error) {
		for _, s := range serves {
			if st, err := serveState(s.addr, detectGuest); err != nil || st != "ok" {
				return false, err
			}
		}
		n, err := alertCount(prom, "", "")
		return n == 0, err
	})
}

// detectOnce cuts the link at a random moment of the round and times each
// serve's down and its alert, then puts the link back.
func detectOnce(ctx context.Context, lab *Lab, serves []*detectServe, prom string, rng *rand.Rand) ([]report.DetectRun, error) {
	offset := time.Duration(rng.Int64N(int64(detectInterval)))
	if err := timing.Sleep(ctx, offset); err != nil {
		return nil, err
	}
	if _, err := command(ctx, lab.script, "fault", "link-down", detectGuest); err != nil {
		return nil, err
	}
	cut := time.Now()
	defer func() { _, _ = command(context.Background(), lab.script, "fault", "link-up", detectGuest) }()
	runs := make([]report.DetectRun, len(serves))
	for i, s := range serves {
		runs[i] = report.DetectRun{Serve: s.name, Offset: offset.Seconds()}
	}
	err := waitFor(ctx, "both serves' VMCheckLinkDown to fire", 2*detectWait, func() (bool, error) {
		done := true
		for i, s := range serves {
			d := &runs[i]
			at := time.Since(cut).Seconds()
			if d.Down == 0 {
				if st, err := serveState(s.addr, detectGuest); err == nil && st == "down" {
					d.Down = at
				}
			}
			if d.Pending == 0 {
				if n, _ := alertCount(prom, s.name, ""); n > 0 {
					d.Pending = at
				}
			}
			if d.Firing == 0 {
				if n, _ := alertCount(prom, s.name, "firing"); n > 0 {
					d.Firing = at
				}
			}
			done = done && d.Down > 0 && d.Pending > 0 && d.Firing > 0
		}
		return done, nil
	})
	return runs, err
}

// waitFor polls cond every 250 ms until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, what string, limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if err := timing.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", limit, what, last)
}

var stateRE = regexp.MustCompile(`(?m)^vmcheck_domain_state\{([^}]*)\} 1$`)

// serveState reads a domain's reported state from a serve's /metrics.
func serveState(addr, dom string) (string, error) {
	b, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	for _, m := range stateRE.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], `domain="`+dom+`"`) {
			if _, st, ok := strings.Cut(m[1], `state="`); ok {
				return st[:strings.IndexByte(st, '"')], nil
			}
		}
	}
	return "", nil
}

// alertCount counts the guest's VMCheckLinkDown series in Prometheus of
// the serve named (any if ""), in the alert state given (pending or
// firing; any if "").
func alertCount(prom, serve, state string) (int, error) {
	q := `ALERTS{alertname="VMCheckLinkDown",domain="` + detectGuest + `"`
	if serve != "" {
		q += `,serve="` + serve + `"`
	}
	if state != "" {
		q += `,alertstate="` + state + `"`
	}
	q += "}"
	b, err := httpGet("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
		return 0, fmt.Errorf("prometheus query %s: %v %.200s", q, err, b)
	}
	return len(r.Data.Result), nil
}

func httpGet(u string) ([]byte, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
