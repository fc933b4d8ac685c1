//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The flood: per server, this many connections of each kind, kept open
// (re-dialled floodRedial after the server closes one) for floodFor.
const (
	floodSilent    = 1000 // connect, send nothing
	floodSlowloris = 1000 // a header line every second, never the blank line
	floodIdle401   = 500  // one request without credentials, then idle keep-alive
	floodIdleAuth  = 500  // one authenticated request, then idle keep-alive
	floodFor       = 20 * time.Second
	floodRedial    = time.Second
	floodCap       = 1024 // serve's default --web.max-connections
)

// floodTarget is one serve under test.
type floodTarget struct {
	name       string
	s          *expServe
	user, pass string          // basic auth, if set
	scrapes    []time.Duration // every timed scrape of /metrics
}

// median returns the median of the scrapes since the from-th.
func (tg *floodTarget) median(from int) time.Duration {
	d := slices.Clone(tg.scrapes[from:])
	slices.Sort(d)
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}

// TestFlood floods two `vmcheck serve` against the lab, one without a web
// config and one with basic auth, with idle, slowloris and idle
// keep-alive connections (authenticated or refused with 401), 3000 per
// server, re-dialled as the server closes them. It checks that each
// serve's fds stay within the connection cap of its idle state, its RSS
// within a bound per connection, that /metrics keeps answering fast and
// that rounds of checks keep completing.
func TestFlood(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--external", external4, "--domain", "lab-debian", "--domain", "lab-busybox", "--interval", "5s", "--log-level", "warn"}
	targets := []*floodTarget{
		{name: "open", s: expStartServe(t, common...)},
		{name: "basic-auth", s: expStartServe(t, append(common, "--web.config.file", webConfig)...), user: "prom", pass: "s3cret"},
	}
	for _, tg := range targets {
		expWait(t, tg.name+": the first round", 30*time.Second, func() (bool, string) {
			v, err := tg.lastRound()
			return err == nil && v > 0, fmt.Sprint(v, err)
		})
	}
	before := map[string]floodSample{}
	for _, tg := range targets {
		before[tg.name] = tg.sample(t, 10)
		t.Logf("%s before the flood: %s, median %s", tg.name, before[tg.name], tg.median(0))
	}
	nBefore := len(targets[0].scrapes)
	rounds := map[string]float64{}
	for _, tg := range targets {
		rounds[tg.name], _ = tg.lastRound()
	}

	ctx, stop := context.WithTimeout(context.Background(), floodFor)
	defer stop()
	var wg sync.WaitGroup
	var dials atomic.Int64
	for _, tg := range targets {
		tg.flood(ctx, &wg, &dials)
	}
	time.Sleep(5 * time.Second) // the flood is in place
	under := map[string][]floodSample{}
	for ctx.Err() == nil {
		for _, tg := range targets {
			under[tg.name] = append(under[tg.name], tg.sample(t, 3))
		}
		time.Sleep(time.Second)
	}
	wg.Wait()
	t.Logf("flood: %d connections dialled over %s", dials.Load(), floodFor)

	for _, tg := range targets {
		tg.check(t, before[tg.name], under[tg.name], rounds[tg.name], nBefore)
	}
	// The flood's connections are closed: serve's fds return to idle.
	for _, tg := range targets {
		expWait(t, tg.name+": fds back to idle", 10*time.Second, func() (bool, string) {
			fds, _ := tg.s.resources()
			return fds <= before[tg.name].fds+5, strconv.Itoa(fds)
		})
	}
}

// check compares tg's samples under the flood with those before it, and
// its last round with the last before the flood (round0).
func (tg *floodTarget) check(t *testing.T, b floodSample, under []floodSample, round0 float64, nBefore int) {
	t.Helper()
	worst := floodWorst(under)
	t.Logf("%s under the flood (worst of %d samples): %s, median %s", tg.name, len(under), worst, tg.median(nBefore))
	// One fd per connection: the cap, plus the one being accepted,
	// plus the libvirt connections of the agent calls in flight (one
	// per VM checked at once: 2 here) and libvirt's event loop.
	if limit := b.fds + floodCap + 1 + 4; worst.fds > limit {
		t.Errorf("%s: %d fds under the flood, want at most %d (idle %d + cap %d + 5)", tg.name, worst.fds, limit, b.fds, floodCap)
	}
	if worst.fds < b.fds+floodCap/2 {
		t.Errorf("%s: only %d fds under the flood (idle %d): the flood did not reach the cap", tg.name, worst.fds, b.fds)
	}
	// A connection costs at most its goroutine, buffers and 16 KiB of
	// headers: 64 KiB is generous; plus 64 MiB of heap slack.
	if limit := b.rssKiB + floodCap*64 + 64<<10; worst.rssKiB > limit {
		t.Errorf("%s: RSS %d KiB under the flood, want at most %d KiB", tg.name, worst.rssKiB, limit)
	}
	// The flood's client shares the machine's CPUs with serve: a
	// scrape waits for them, not for the flood's connections.
	if worst.metrics > 2*time.Second || tg.median(nBefore) > 500*time.Millisecond {
		t.Errorf("%s: /metrics took up to %s, median %s under the flood, want under 2s and 500ms (before: %s)", tg.name, worst.metrics, tg.median(nBefore), b.metrics)
	}
	after, err := tg.lastRound()
	t.Logf("%s: rounds went on: the last one started %.0fs after the last before the flood", tg.name, after-round0)
	if err != nil || after < round0+2*5 {
		t.Errorf("%s: the last round started at %.0f after the flood, %.0f before it: want rounds to go on every 5s (%v)", tg.name, after, round0, err)
	}
}

// floodSample is one measure of a serve.
type floodSample struct {
	fds     int
	rssKiB  int
	metrics time.Duration // the slowest of the scrapes of the sample
}

func (s floodSample) String() string {
	return fmt.Sprintf("%d fds, RSS %.1f MiB, /metrics at most %s", s.fds, float64(s.rssKiB)/1024, s.metrics.Round(100*time.Microsecond))
}

// floodWorst returns the largest of each measure.
func floodWorst(ss []floodSample) floodSample {
	var w floodSample
	for _, s := range ss {
		w.fds, w.rssKiB, w.metrics = max(w.fds, s.fds), max(w.rssKiB, s.rssKiB), max(w.metrics, s.metrics)
	}
	return w
}

// resources returns serve's open fds and RSS in KiB.
func (s *expServe) resources() (fds, rssKiB int) {
	pid := s.cmd.Process.Pid
	if d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		fds = len(d)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				rssKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
	}
	return fds, rssKiB
}

// sample scrapes /metrics n times, each on a new connection as a
// Prometheus whose keep-alive connection was closed would, and reads fds
// and RSS.
func (tg *floodTarget) sample(t *testing.T, n int) floodSample {
	t.Helper()
	var s floodSample
	for range n {
		start := time.Now()
		if _, err := tg.scrape(); err != nil {
			t.Errorf("%s: /metrics: %v", tg.name, err)
			s.metrics = max(s.metrics, time.Hour)
			continue
		}
		s.metrics = max(s.metrics, time.Since(start))
		tg.scrapes = append(tg.scrapes, time.Since(start))
	}
	s.fds, s.rssKiB = tg.s.resources()
	return s
}

// scrape GETs /metrics with tg's credentials on a new connection from
// 127.0.0.2: Prometheus is another host than the flood's (127.0.0.1).
func (tg *floodTarget) scrape() ([]byte, error) {
	req, err := http.NewRequest("GET", "http://"+tg.s.addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if tg.user != "" {
		req.SetBasicAuth(tg.user, tg.pass)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", resp.Status)
	}
	return b, err
}

// lastRound returns vmcheck_last_round_timestamp_seconds.
func (tg *floodTarget) lastRound() (float64, error) {
	b, err := tg.scrape()
	if err != nil {
		return 0, err
	}
	m, err := parseExposition(b)
	if err != nil {
		return 0, err
	}
	v, ok := m.value("vmcheck_last_round_timestamp_seconds", nil)
	if !ok {
		return 0, fmt.Errorf("no vmcheck_last_round_timestamp_seconds")
	}
	return v, nil
}

// flood starts the flood's connections to tg until ctx ends.
func (tg *floodTarget) flood(ctx context.Context, wg *sync.WaitGroup, dials *atomic.Int64) {
	kinds := []struct {
		n    int
		hold func(net.Conn)
	}{
		{floodSilent, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }},
		{floodSlowloris, func(c net.Conn) {
			if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
				return
			}
			for ctx.Err() == nil {
				if _, err := fmt.Fprint(c, "X-Slow: 1\r\n"); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}},
		{floodIdle401, func(c net.Conn) { floodIdleAfter(c, "") }},
		{floodIdleAuth, func(c net.Conn) { floodIdleAfter(c, tg.user+":"+tg.pass) }},
	}
	for _, k := range kinds {
		for range k.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d net.Dialer
				for ctx.Err() == nil {
					c, err := d.DialContext(ctx, "tcp", tg.s.addr)
					if err == nil {
						dials.Add(1)
						stop := context.AfterFunc(ctx, func() { c.Close() })
						k.hold(c)
						stop()
						c.Close()
					}
					select {
					case <-ctx.Done():
					case <-time.After(floodRedial):
					}
				}
			}()
		}
	}
}

// floodIdleAfter sends one request for /-/healthy (with userpass as basic
// auth, if set), reads the answer (200 or 401) and then holds the
// connection idle until the server closes it.
func floodIdleAfter(c net.Conn, userpass string) {
	req, _ := http.NewRequest("GET", "http://localhost/-/healthy", nil)
	if user, pass, ok := strings.Cut(userpass, ":"); ok && user != "" {
		req.SetBasicAuth(user, pass)
	}
	if err := req.Write(c); err != nil {
		return
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !slices.Contains([]int{200, 401}, resp.StatusCode) {
		return
	}
	_, _ = io.Copy(io.Discard, br)
}
