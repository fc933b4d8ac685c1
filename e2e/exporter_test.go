//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// expMetrics is a parsed exposition: metric name → series.
type expMetrics map[string]*dto.MetricFamily

func expParse(t *testing.T, b []byte) expMetrics {
	t.Helper()
	mfs, err := parseExposition(b)
	if err != nil {
		t.Fatalf("metrics do not parse with the Prometheus text parser: %v", err)
	}
	return mfs
}

// parseExposition parses a text exposition without failing the test.
func parseExposition(b []byte) (expMetrics, error) {
	var p expfmt.TextParser
	return p.TextToMetricFamilies(bytes.NewReader(b))
}

// value returns the value of the series of name whose labels include
// want, and whether there is one.
func (m expMetrics) value(name string, want map[string]string) (float64, bool) {
	mf, ok := m[name]
	if !ok {
		return 0, false
	}
	for _, s := range mf.Metric {
		match := true
		for k, v := range want {
			found := false
			for _, l := range s.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if match {
			if s.Gauge != nil {
				return s.Gauge.GetValue(), true
			}
			return s.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// expAssertTruth compares the metrics of one round with what the lab
// guarantees (fullLab): the reported state (with --down-after 1 it is the
// verdict), agent_up, and probe_success for every probe that ran.
func expAssertTruth(t *testing.T, m expMetrics) {
	t.Helper()
	for name, w := range fullLab {
		dom := map[string]string{"domain": name}
		for _, st := range []model.State{model.StateOK, model.StateDegraded, model.StateDown, model.StateUnknown, model.StatePaused} {
			v, ok := m.value("vmcheck_domain_state", map[string]string{"domain": name, "state": string(st)})
			if !ok {
				t.Errorf("%s: no vmcheck_domain_state{state=%q}", name, st)
				continue
			}
			if want := st == w.state; (v == 1) != want {
				t.Errorf("%s: vmcheck_domain_state{state=%q} = %v, want the state to be %s", name, st, v, w.state)
			}
		}
		// lab-flood's agent may be knocked over by the flood itself, and
		// with it what vmcheck learns through the agent.
		flood := name == "lab-flood"
		if w.agent != "" && !flood {
			if v, ok := m.value("vmcheck_agent_up", dom); !ok || (v == 1) != (w.agent == model.AgentOK) {
				t.Errorf("%s: vmcheck_agent_up = %v (present %t), want agent %s", name, v, ok, w.agent)
			}
		}
		for key, st := range w.probes {
			kind, target, _ := strings.Cut(key, " ")
			v, ok := m.value("vmcheck_probe_success", map[string]string{"domain": name, "kind": kind, "target": target})
			switch st {
			case model.ProbePassed, model.ProbeFailed:
				if want := st == model.ProbePassed; !ok || (v == 1) != want {
					t.Errorf("%s: vmcheck_probe_success{%s} = %v (present %t), want %s", name, key, v, ok, st)
				}
				// A reply without a time (some ping.exe outputs) has no RTT.
				if _, rtt := m.value("vmcheck_probe_rtt_seconds", map[string]string{"domain": name, "kind": kind, "target": target}); rtt && st != model.ProbePassed {
					t.Errorf("%s: vmcheck_probe_rtt_seconds{%s} present for a %s probe", name, key, st)
				}
			default:
				if ok {
					t.Errorf("%s: vmcheck_probe_success{%s} present for a probe that could not run", name, key)
				}
			}
		}
		if w.family != "" && !flood {
			if _, ok := m.value("vmcheck_domain_info", map[string]string{"domain": name, "os_family": w.family}); !ok {
				t.Errorf("%s: no vmcheck_domain_info{os_family=%q}", name, w.family)
			}
		}
	}
	if n := len(m["vmcheck_domain_info"].GetMetric()); n != len(fullLab) {
		t.Errorf("metrics describe %d domains, want %d", n, len(fullLab))
	}
	if v, _ := m.value("vmcheck_libvirt_up", nil); v != 1 {
		t.Errorf("vmcheck_libvirt_up = %v, want 1", v)
	}
}

func TestExporterCronTextfile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state", "cron.json")
	if err := os.Mkdir(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	r := vmcheckRun(t, roundCap, "cron", "-c", labURI, "--external", external4, "--external", external6,
		"--timeout", "20s", "--textfile-dir", dir, "--state-file", state, "--down-after", "1")
	if r.code != output.ExitProbeFailed {
		t.Errorf("vmcheck cron exit = %d, want %d like check (lab-badgw is down); stderr:\n%s", r.code, output.ExitProbeFailed, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "vmcheck.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range expParse(t, b) {
		for _, s := range mf.Metric {
			if s.TimestampMs != nil {
				t.Errorf("%s carries a timestamp; node_exporter rejects such files", mf.GetName())
			}
		}
	}
	expAssertTruth(t, expParse(t, b))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "vmcheck.prom" && e.Name() != "state" {
			t.Errorf("left behind in the textfile directory: %s", e.Name())
		}
	}

	// One JSON log line per VM.
	lines := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var f map[string]any
		if json.Unmarshal([]byte(l), &f) != nil || f["msg"] != "vm checked" {
			continue
		}
		lines[fmt.Sprint(f["domain"])] = f
	}
	if len(lines) != len(fullLab) {
		t.Errorf("%d JSON log lines for VMs, want %d:\n%s", len(lines), len(fullLab), r.stderr)
	}
	if f := lines["lab-badgw"]; f["state"] != "down" || f["level"] != "warning" || f["reason"] == nil {
		t.Errorf("lab-badgw log line = %v, want state down at level warning with a reason", f)
	}
	if f := lines["lab-debian"]; f["state"] != "ok" || f["level"] != "info" {
		t.Errorf("lab-debian log line = %v", f)
	}
}

// expServe is a running `vmcheck serve`.
type expServe struct {
	addr   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func expFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func expStartServe(t *testing.T, args ...string) *expServe {
	t.Helper()
	s := &expServe{addr: expFreeAddr(t), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(vmcheck, append([]string{"serve", "-c", labURI, "--web.listen-address", s.addr}, args...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("vmcheck serve log (tail):\n%s", expTail(s.stderr.String(), 40))
		}
	})
	return s
}

func expTail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func expGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// expWait polls cond every interval until it holds or limit passes.
func expWait(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", limit, what, last)
}

// expNeed returns the path of a Debian package's binary, installing the
// package with apt-get when it is missing.
func expNeed(t *testing.T, bin, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s is missing and apt-get install %s failed: %v\n%s", bin, pkg, err, out)
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s still missing after installing %s", bin, pkg)
	}
	return p
}

// TestExporterServe runs one `vmcheck serve` against the lab and checks, in
// order: its metrics against the lab's truth, the status page in headless
// Chromium (one row per lab VM), a real Prometheus firing VMCheckLinkDown
// (and the node-uplink alert) when the lab's outside link is cut and
// resolving it when it is back, and a clean exit 0 on SIGTERM.
func TestExporterServe(t *testing.T) {
	chromium := expNeed(t, "chromium", "chromium")
	prometheus := expNeed(t, "prometheus", "prometheus")
	s := expStartServe(t, "--external", external4, "--external", external6, "--interval", "5s", "--down-after", "2",
		"--timeout", "15s", "--ping-timeout", "1s", "--log-level", "debug")
	base := "http://" + s.addr

	// Two rounds, so that lab-badgw is confirmed down.
	var m expMetrics
	expWait(t, "two rounds with every lab VM", 3*time.Minute, func() (bool, string) {
		b, err := expGet(base + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		m = expParse(t, b)
		v, _ := m.value("vmcheck_domain_state", map[string]string{"domain": "lab-badgw", "state": "down"})
		n := len(m["vmcheck_domain_info"].GetMetric())
		return v == 1 && n == len(fullLab), fmt.Sprintf("%d domains, lab-badgw down=%v", n, v)
	})
	// The failure streak that confirmed it is visible, and counted from
	// the first failed round.
	if v, _ := m.value("vmcheck_consecutive_failures", map[string]string{"domain": "lab-badgw"}); v < 2 {
		t.Errorf("lab-badgw consecutive failures = %v, want ≥ 2", v)
	}
	expAssertTruth(t, m)

	t.Run("status page in Chromium", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=2000", "--dump-dom", base+"/")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, errb.String())
		}
		dom := string(out)
		rows := regexp.MustCompile(`<tr class="vm" id="vm-[^"]+" data-domain="([^"]+)" data-state="([^"]+)"`).FindAllStringSubmatch(dom, -1)
		if len(rows) != len(fullLab) {
			t.Errorf("Chromium shows %d VM rows, want one per lab VM (%d)", len(rows), len(fullLab))
		}
		for _, r := range rows {
			if w, ok := fullLab[r[1]]; !ok || string(w.state) != r[2] {
				t.Errorf("row %s shows %s, want %s", r[1], r[2], w.state)
			}
		}
		if !strings.Contains(dom, `data-js="ok"`) {
			t.Errorf("the status page's script did not run in Chromium")
		}
	})

	t.Run("Prometheus alert on outside link cut", func(t *testing.T) {
		expPrometheusLinkDown(t, prometheus, s.addr)
	})

	// SIGTERM while rounds run: exit 0, promptly.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("vmcheck serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("vmcheck serve did not exit within 30s of SIGTERM")
	}
}

// expPrometheusLinkDown runs Debian's Prometheus on loopback against the
// serve at addr with the shipped alert rules (for: shortened to 5s), cuts
// the lab's outside link, waits for VMCheckLinkDown on lab-debian and for
// VMCheckNodeExternalUnreachable, restores the link and waits for them to
// resolve.
func expPrometheusLinkDown(t *testing.T, bin, addr string) {
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(rules, []byte("$1 5s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := expFreeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: vmcheck
    static_configs:
      - targets: [%q]
`, addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var plog bytes.Buffer
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--storage.tsdb.retention.time=1h")
	prom.Dir = dir
	prom.Stdout, prom.Stderr = &plog, &plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Signal(syscall.SIGTERM)
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log (tail):\n%s", expTail(plog.String(), 30))
		}
	})

	query := func(q string) ([]map[string]string, error) {
		b, err := expGet("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil, err
		}
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
			return nil, fmt.Errorf("query %s: %v %s", q, err, b)
		}
		var out []map[string]string
		for _, s := range r.Data.Result {
			out = append(out, s.Metric)
		}
		return out, nil
	}
	count := func(q string) func() (bool, string) {
		return func() (bool, string) {
			r, err := query(q)
			if err != nil {
				return false, err.Error()
			}
			return len(r) > 0, fmt.Sprintf("%d series", len(r))
		}
	}
	none := func(q string) func() (bool, string) {
		return func() (bool, string) {
			r, err := query(q)
			if err != nil {
				return false, err.Error()
			}
			return len(r) == 0, fmt.Sprintf("%v", r)
		}
	}
	const (
		linkDown = `ALERTS{alertname="VMCheckLinkDown",alertstate="firing",domain="lab-debian"}`
		uplink   = `ALERTS{alertname="VMCheckNodeExternalUnreachable",alertstate="firing"}`
	)
	expWait(t, "Prometheus to scrape vmcheck", time.Minute, count(`up{job="vmcheck"} == 1 and on() vmcheck_domain_state{domain="lab-debian",state="ok"} == 1`))
	// The healthy lab alerts on lab-badgw (down by design), not on lab-debian,
	// with the default alert policy's labels.
	expWait(t, "the rules to fire on lab-badgw", time.Minute,
		count(`ALERTS{alertname="VMCheckLinkDown",alertstate="firing",domain="lab-badgw",severity="warning",notify="operator"}`))
	if r, _ := query(linkDown); len(r) != 0 {
		t.Fatalf("VMCheckLinkDown fires for lab-debian before the cut: %v", r)
	}
	if r, _ := query(uplink); len(r) != 0 {
		t.Fatalf("VMCheckNodeExternalUnreachable fires before the cut: %v", r)
	}

	lab(t, "fault", "cut-outside")
	restored := false
	defer func() {
		if !restored {
			lab(t, "fault", "restore-outside")
		}
	}()
	start := time.Now()
	expWait(t, "VMCheckLinkDown for lab-debian", 3*time.Minute, count(linkDown))
	t.Logf("VMCheckLinkDown fired %s after the cut", time.Since(start).Round(time.Second))
	if r, _ := query(`vmcheck_domain_state{domain="lab-debian",state="degraded"} == 1`); len(r) == 0 {
		t.Errorf("VMCheckLinkDown fires for lab-debian, which is not reported degraded (its gateway still answers)")
	}
	expWait(t, "VMCheckNodeExternalUnreachable", time.Minute, count(uplink))

	lab(t, "fault", "restore-outside")
	restored = true
	start = time.Now()
	expWait(t, "VMCheckLinkDown for lab-debian to resolve", 2*time.Minute, none(linkDown))
	// The shared-cause alert keeps firing for its keep_firing_for (1m in
	// deploy/prometheus/alerts.yml) after its condition ends, then needs an
	// evaluation to resolve: a minute is not enough.
	expWait(t, "VMCheckNodeExternalUnreachable to resolve", 2*time.Minute, none(uplink))
	t.Logf("alerts resolved %s after the restore", time.Since(start).Round(time.Second))
}
