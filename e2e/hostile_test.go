//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// The hostile guests run lab/hostile instead of qemu-ga: lab-hostile and
// qemu-hostile (plain QEMU, direct socket) answer every data command with
// a ~3.9 MiB allocation bomb full of control characters, lab-hostile-slow
// with timing attacks. Whatever they send, vmcheck must keep its memory
// bounded, end every domain's check within its deadline, give the honest
// neighbour its usual verdict, and print, log and serve no control
// character a guest sent.

const (
	hostileTimeout = 10 * time.Second
	// hostileRounds is how many rounds meet every bomb of lab/hostile (one
	// stage's reply per round is the big one) and every slow behaviour.
	hostileRounds = 6
	// hostileSlack is what a domain's check may take past its deadline.
	hostileSlack = 2 * time.Second
	// hostileRoundSlack is what a whole round may take past the deadline
	// (start-up, connecting, writing the output).
	hostileRoundSlack = 5 * time.Second
	checkRSSLimit     = 100 << 20
	serveRSSLimit     = 150 << 20
)

// hostileLab are the hostile libvirt lab guests.
var hostileLab = []string{"lab-hostile", "lab-hostile-slow"}

// badRune reports whether r must never reach an operator's terminal, log
// or page from a guest: C0 and C1 controls, DEL, line and paragraph
// separators, and format characters (bidi embeddings, overrides and
// isolates, zero-width characters, BOM, soft hyphen, ...).
func badRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// leakScan collects control characters found in vmcheck's output.
type leakScan struct {
	n        int      // leaks found
	examples []string // the first few, described
}

// scan records the bad runes of s (and its invalid UTF-8 bytes), except
// those in allowed (the structure of the output: newlines of a table).
func (l *leakScan) scan(where, s, allowed string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			l.add(where, s, i, "invalid UTF-8")
		case badRune(r) && !strings.ContainsRune(allowed, r):
			l.add(where, s, i, fmt.Sprintf("U+%04X", r))
		}
		i += size
	}
}

func (l *leakScan) add(where, s string, i int, what string) {
	l.n++
	if len(l.examples) < 8 {
		from, to := max(0, i-24), min(len(s), i+24)
		l.examples = append(l.examples, fmt.Sprintf("%s: %s at byte %d in …%q…", where, what, i, s[from:to]))
	}
}

// report fails t when anything leaked.
func (l *leakScan) report(t *testing.T, what string) {
	t.Helper()
	if l.n > 0 {
		t.Errorf("%s: %d control characters from guests, e.g.:\n  %s", what, l.n, strings.Join(l.examples, "\n  "))
	}
}

// scanJSON decodes b and scans every string in it, keys included.
func (l *leakScan) scanJSON(where string, b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("%s: not JSON: %w", where, err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case string:
			l.scan(path, v, "")
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range v {
				l.scan(path+" key", k, "")
				walk(path+"."+k, e)
			}
		}
	}
	walk(where, v)
	return nil
}

// charRefs are numeric character references, which a browser turns back
// into characters anywhere in a page; jsEscapes are the escapes a script
// turns back into characters.
var (
	charRefs  = regexp.MustCompile(`&#[xX]([0-9a-fA-F]{1,6});|&#([0-9]{1,7});`)
	jsEscapes = regexp.MustCompile(`\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})`)
	scripts   = regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`)
)

// scanPage scans an HTML page: its raw runes (white space allowed), the
// characters its character references stand for, and those of the escapes
// in its scripts. (A JSON escape shown as text, e.g. in the agent exchange
// of /vm/{uuid}, is printable text, not a control character.)
func (l *leakScan) scanPage(where, page string) {
	l.scan(where, page, "\n\r\t")
	l.scanRefs(where+" (character reference)", page, charRefs, []int{16, 10})
	for _, m := range scripts.FindAllStringSubmatch(page, -1) {
		l.scanRefs(where+" (script escape)", m[1], jsEscapes, []int{16, 16})
	}
}

// scanRefs records the bad runes that the matches of re in s stand for:
// group i+1 holds the number, in base bases[i].
func (l *leakScan) scanRefs(where, s string, re *regexp.Regexp, bases []int) {
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		for i, base := range bases {
			if m[2+2*i] < 0 {
				continue
			}
			n, _ := strconv.ParseUint(s[m[2+2*i]:m[3+2*i]], base, 32)
			if r := rune(n); badRune(r) {
				l.add(where, s, m[0], fmt.Sprintf("U+%04X as %s", r, s[m[0]:m[1]]))
			}
		}
	}
}

// measuredExec runs vmcheck with args under limit, like vmcheckExec, and
// returns its peak RSS in bytes, as GNU time reports it (%M: ru_maxrss of
// its child, from wait4, in KiB; busybox time's %M is 4 times too large).
// Not this process's own wait4: Go starts a child with vfork, and Linux
// records the parent's high-water RSS into the child's ru_maxrss at its
// execve, so once the test process has grown (TestFlood holds thousands of
// connections) every child would read as large as it. time forks vmcheck
// from its own small image.
func measuredExec(limit time.Duration, args ...string) (run, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	rss := filepath.Join(os.TempDir(), fmt.Sprintf("vmcheck-e2e-rss-%d-%d", os.Getpid(), time.Now().UnixNano()))
	defer os.Remove(rss)
	cmd := exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-f", "%M", "-o", rss, vmcheck}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) } // vmcheck too
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	peak, perr := timeRSS(rss)
	if ctx.Err() != nil {
		return r, peak, fmt.Errorf("vmcheck %v did not finish within %s", args, limit)
	}
	if perr != nil {
		return r, peak, perr
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, peak, fmt.Errorf("vmcheck %v: %w", args, err)
	}
	if r.code == output.ExitError {
		return r, peak, fmt.Errorf("vmcheck %v exited 3: %s", args, r.stderr)
	}
	return r, peak, nil
}

// timeRSS reads time's %M (KiB) from the last line of its file.
func timeRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	lines := strings.Fields(strings.TrimSpace(string(b)))
	if len(lines) == 0 {
		return 0, fmt.Errorf("peak RSS: time wrote nothing")
	}
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("peak RSS: time wrote %q: %w", b, err)
	}
	return kib << 10, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// assertHostileRound checks one JSON round over honest and hostile
// domains: deadlines, the honest verdict, unknown with a clean reason for
// the hostile ones, and no control character anywhere in its output.
func assertHostileRound(t *testing.T, r run, honest string, hostile []string) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
		t.Errorf("output is not the JSON contract: %v\n%.2000s", err, r.stdout)
		return
	}
	if r.duration > hostileTimeout+hostileRoundSlack {
		t.Errorf("the round took %s, past the %s deadline + %s", r.duration.Round(time.Millisecond), hostileTimeout, hostileRoundSlack)
	}
	for _, d := range r.report.Domains {
		t.Logf("%-16s %-8s %5.1fs agent=%s reason %d bytes: %.160q", d.Name, d.State, d.Duration, d.Agent.State, len(d.Reason), d.Reason)
		if d.Duration > (hostileTimeout + hostileSlack).Seconds() {
			t.Errorf("%s: check took %.1fs, past its %s deadline", d.Name, d.Duration, hostileTimeout)
		}
	}
	if d := domain(t, r, honest); d.State != model.StateOK {
		t.Errorf("honest neighbour %s: %s (%s), want ok", honest, d.State, d.Reason)
	}
	for _, name := range hostile {
		assertWant(t, domain(t, r, name), want{hostile: true})
	}
	var l leakScan
	if err := l.scanJSON("stdout", []byte(r.stdout)); err != nil {
		t.Error(err)
	}
	l.scan("stderr", r.stderr, "\n")
	l.report(t, "check --output json")
}

// hostileCheck runs `vmcheck check` with args (the transport) over an
// honest domain and hostile ones, rounds times in JSON and once as a
// table, measuring each run's peak RSS.
func hostileCheck(t *testing.T, args []string, rounds int, honest string, hostile []string) {
	names := append([]string{honest}, hostile...)
	args = append(append(args, domainArgs(names...)...), "--external", external4, "--timeout", hostileTimeout.String())
	t.Run("json", func(t *testing.T) {
		for round := 1; round <= rounds; round++ {
			r, peak, err := measuredExec(roundCap, append([]string{"check", "--output", "json", "--log-level", "debug"}, args...)...)
			t.Logf("round %d, check --output json: peak RSS %s, %s, exit %d, stdout %d bytes, stderr %d bytes",
				round, mib(peak), r.duration.Round(time.Millisecond), r.code, len(r.stdout), len(r.stderr))
			if peak > checkRSSLimit {
				t.Errorf("round %d: peak RSS %s, want under %s", round, mib(peak), mib(checkRSSLimit))
			}
			if err != nil {
				t.Error(err)
				continue
			}
			assertHostileRound(t, r, honest, hostile)
		}
	})
	t.Run("table", func(t *testing.T) {
		r, peak, err := measuredExec(roundCap, append([]string{"check"}, args...)...)
		t.Logf("check (table): peak RSS %s, %s, exit %d, stdout %d bytes", mib(peak), r.duration.Round(time.Millisecond), r.code, len(r.stdout))
		if peak > checkRSSLimit {
			t.Errorf("peak RSS %s, want under %s", mib(peak), mib(checkRSSLimit))
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.duration > hostileTimeout+hostileRoundSlack {
			t.Errorf("the round took %s, past the %s deadline + %s", r.duration.Round(time.Millisecond), hostileTimeout, hostileRoundSlack)
		}
		for _, n := range names {
			if !strings.Contains(r.stdout, n) {
				t.Errorf("the table has no row for %s", n)
			}
		}
		var l leakScan
		l.scan("table", r.stdout, "\n")
		l.scan("stderr", r.stderr, "\n")
		l.report(t, "check (table)")
		t.Logf("table:\n%.3000s", r.stdout)
	})
}

func TestHostileCheck(t *testing.T) {
	hostileCheck(t, []string{"-c", labURI}, hostileRounds, "lab-debian", hostileLab)
}

func TestHostileQEMUSocket(t *testing.T) {
	runDir, pveDir := qemuLab(t)
	// Some rounds end at the resync: floods come before some replies.
	hostileCheck(t, []string{"--qemu-dir", runDir, "--pve-config-dir", pveDir}, 2*hostileRounds, "qemu-healthy", []string{"qemu-hostile"})
}

// vmHWM returns the peak RSS of process pid (VmHWM), in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM")
}

// TestHostileServe runs `vmcheck serve` over the honest and hostile lab
// guests for a few rounds, then checks its peak RSS and that /metrics, the
// status page, every VM's page and /api/results hold no control character.
func TestHostileServe(t *testing.T) {
	names := append([]string{"lab-debian"}, hostileLab...)
	s := expStartServe(t, append(domainArgs(names...), "--external", external4, "--interval", "5s", "--down-after", "1",
		"--timeout", hostileTimeout.String(), "--log-level", "debug")...)
	base := "http://" + s.addr
	// VmHWM is the peak so far; poll it in case serve dies before the end.
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			if p, err := vmHWM(s.cmd.Process.Pid); err == nil && p > peak.Load() {
				peak.Store(p)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	var m expMetrics
	rounds, last := 0, 0.0
	expWait(t, "rounds over the three domains", 5*time.Minute, func() (bool, string) {
		b, err := expGet(base + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		m = expParse(t, b)
		ts, _ := m.value("vmcheck_last_round_timestamp_seconds", nil)
		if n := len(m["vmcheck_domain_info"].GetMetric()); n == len(names) && ts != last {
			rounds, last = rounds+1, ts
		}
		return rounds > hostileRounds, fmt.Sprintf("%d rounds", rounds)
	})
	if p, err := vmHWM(s.cmd.Process.Pid); err == nil && p > peak.Load() {
		peak.Store(p)
	}
	t.Logf("vmcheck serve after %d rounds: peak RSS (VmHWM) %s", rounds, mib(peak.Load()))
	if peak.Load() > serveRSSLimit {
		t.Errorf("serve peak RSS %s, want under %s", mib(peak.Load()), mib(serveRSSLimit))
	}
	for _, n := range names {
		st := map[string]string{"domain": n, "state": "ok"}
		if n != "lab-debian" {
			st["state"] = "unknown"
		}
		if v, _ := m.value("vmcheck_domain_state", st); v != 1 {
			t.Errorf("%s: vmcheck_domain_state{state=%q} = %v, want 1", n, st["state"], v)
		}
	}
	hostileServePages(t, base, m)
	var l leakScan
	l.scan("serve log", s.stderr.String(), "\n")
	l.report(t, "serve's log")
}

// hostileServePages fetches serve's pages and scans them for control
// characters: /metrics raw and parsed, /, every /vm/{uuid}, /api/results.
func hostileServePages(t *testing.T, base string, m expMetrics) {
	t.Helper()
	var l leakScan
	b, err := expGet(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	l.scan("/metrics", string(b), "\n")
	for name, mf := range m {
		l.scan("/metrics HELP of "+name, mf.GetHelp(), "")
		for _, s := range mf.Metric {
			for _, lp := range s.Label {
				l.scan(fmt.Sprintf("/metrics %s{%s}", name, lp.GetName()), lp.GetValue(), "")
			}
		}
	}
	l.report(t, "/metrics")

	l = leakScan{}
	if b, err = expGet(base + "/"); err != nil {
		t.Fatal(err)
	}
	l.scanPage("/", string(b))
	b, err = expGet(base + "/api/results")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.scanJSON("/api/results", b); err != nil {
		t.Error(err)
	}
	var rep model.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("/api/results: %v", err)
	}
	for _, d := range rep.Domains {
		page, err := expGet(base + "/vm/" + d.UUID)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		t.Logf("/vm/%s (%s): %d bytes", d.UUID, d.Name, len(page))
		l.scanPage("/vm/"+d.Name, string(page))
	}
	l.report(t, "status pages and /api/results")
}
