package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/schedule"
)

// startLimited runs a Server over a fake host with the given limits and
// access, and returns its address once /metrics has the VM.
func startLimited(t *testing.T, lim Limits, access PageAccess) string {
	t.Helper()
	return startLimitedOn(t, freeAddr(t), lim, access)
}

// startLimitedOn is startLimited listening on addr.
func startLimitedOn(t *testing.T, addr string, lim Limits, access PageAccess) string {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	srv := &Server{
		Runner: &schedule.Runner{Connect: exportertest.ConnectFunc[schedule.Conn](exportertest.NewFakeHost("a")), Engine: exportertest.NewFakeEngine(), History: history.New(3), Interval: time.Hour},
		Listen: []string{addr}, Node: "node7", Version: "1.2.3", Log: log, Limits: lim, Access: access,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
	exportertest.Eventually(t, "/metrics with the VM", func() bool {
		code, body, err := scrape("http://" + addr + "/metrics")
		return err == nil && code == http.StatusOK && strings.Contains(body, `vmcheck_domain_state{domain="a",state="ok"`)
	})
	return addr
}

// scrape GETs url on a connection of its own.
func scrape(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// dialN opens n connections to addr that send nothing.
func dialN(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return conns
}

// closedByServer reports whether the server has closed c within wait: a
// read returns EOF or a reset instead of timing out.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// countClosed returns how many of conns the server closed within wait.
func countClosed(conns []net.Conn, wait time.Duration) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if closedByServer(c, wait) {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n
}

func TestIdleConnectionsClosedAfterTimeouts(t *testing.T) {
	addr := startLimited(t, Limits{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, PageAccess{})
	// Connections that never send a request: ReadHeaderTimeout.
	silent := dialN(t, addr, 50)
	// A keep-alive connection after one request: IdleTimeout.
	ka, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	fmt.Fprintf(ka, "GET /-/healthy HTTP/1.1\r\nHost: localhost\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(ka), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	start := time.Now()
	if n := countClosed(silent, 3*time.Second); n != len(silent) {
		t.Errorf("%d of %d silent connections closed by the server within 3s, want all", n, len(silent))
	}
	if !closedByServer(ka, 3*time.Second) {
		t.Error("an idle keep-alive connection was not closed within 3s")
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("connections closed after %s, before the 300ms timeouts", took)
	}
}

func TestSlowlorisClosedAfterReadHeaderTimeout(t *testing.T) {
	addr := startLimited(t, Limits{ReadHeaderTimeout: 500 * time.Millisecond}, PageAccess{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
	var werr error
	for time.Since(start) < 5*time.Second && werr == nil {
		time.Sleep(50 * time.Millisecond)
		_, werr = fmt.Fprint(c, "X-A: b\r\n") // never the blank line
		if closedByServer(c, time.Millisecond) {
			break
		}
	}
	if took := time.Since(start); took > 3*time.Second || took < 400*time.Millisecond {
		t.Errorf("a connection sending a header line every 50ms was closed after %s, want about the 500ms ReadHeaderTimeout", took)
	}
}

func TestConnectionCapEvictsIdleAndMetricsAnswer(t *testing.T) {
	const limit = 20
	addr := startLimited(t, Limits{MaxConnections: limit}, PageAccess{})
	old := dialN(t, addr, 100)
	time.Sleep(100 * time.Millisecond) // accepted in order
	newest := dialN(t, addr, limit-1)
	for i := range 5 {
		start := time.Now()
		code, body, err := scrape("http://" + addr + "/metrics")
		if err != nil || code != http.StatusOK || !strings.Contains(body, "vmcheck_domain_state") {
			t.Fatalf("scrape %d beside 100+ idle connections over a cap of %d: %d, %v", i, limit, code, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("scrape %d took %s beside idle connections, want well under 1s", i, took)
		}
	}
	if n := countClosed(old, 2*time.Second); n != len(old) {
		t.Errorf("%d of the %d oldest idle connections closed, want all (cap %d)", n, len(old), limit)
	}
	// The newest idle ones keep their places: the first scrape took the
	// place of the last old one; a later scrape may find its predecessor
	// not yet closed by the server and take one of theirs.
	if n := countClosed(newest, 200*time.Millisecond); n > 4 {
		t.Errorf("%d of the %d newest idle connections closed, want at most 4", n, len(newest))
	}
}

func TestConnectionCapRefusesWhenAllBusy(t *testing.T) {
	release := make(chan struct{})
	var inHandler sync.WaitGroup
	inHandler.Add(2)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		inHandler.Done()
		<-release
	})
	cl := newConnLimiter(2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnState: cl.ConnState}
	go func() { _ = srv.Serve(cl.wrap(l)) }()
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/"
	for range 2 {
		go func() { _, _, _ = scrape(url) }()
	}
	inHandler.Wait()
	if _, _, err := scrape(url); err == nil {
		t.Error("a third connection beside two in requests, cap 2: answered, want closed")
	}
	if n := cl.open(); n != 2 {
		t.Errorf("open connections = %d, want the 2 busy ones", n)
	}
	close(release)
}

func TestConnLimiterEvictsLongestIdle(t *testing.T) {
	now := time.Unix(0, 0)
	cl := newConnLimiter(2)
	cl.now = func() time.Time { now = now.Add(time.Second); return now }
	conn := func() *limitedConn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &limitedConn{Conn: a, l: cl}
	}
	a, b, c := conn(), conn(), conn()
	if v := cl.admit(a); v != nil {
		t.Fatalf("admit(a) = %p, want nil", v)
	}
	if v := cl.admit(b); v != nil {
		t.Fatalf("admit(b) = %p, want nil", v)
	}
	cl.ConnState(a, http.StateActive) // a is in a request
	cl.ConnState(b, http.StateIdle)   // b idle since now
	if v := cl.admit(c); v != b {
		t.Errorf("admit(c) beside busy a and idle b = %p, want b %p", v, b)
	}
	_ = b.Close()
	cl.ConnState(c, http.StateActive)
	d := conn()
	if v := cl.admit(d); v != d {
		t.Errorf("admit(d) beside two busy connections = %p, want d itself %p", v, d)
	}
}

func TestConnLimiterEvictsFromBusiestSource(t *testing.T) {
	cl := newConnLimiter(3)
	now := time.Unix(0, 0)
	cl.now = func() time.Time { now = now.Add(time.Second); return now }
	conn := func(src string) *limitedConn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &limitedConn{Conn: a, l: cl, src: netip.MustParseAddr(src)}
	}
	scraper := conn("192.0.2.9") // the oldest, idle between scrapes
	flood1, flood2 := conn("198.51.100.1"), conn("198.51.100.1")
	for _, c := range []*limitedConn{scraper, flood1, flood2} {
		if v := cl.admit(c); v != nil {
			t.Fatalf("admit under the cap = %p, want nil", v)
		}
	}
	if v := cl.admit(conn("198.51.100.1")); v != flood1 {
		t.Errorf("admit of a third flood connection closes %p, want the oldest flood connection %p, not the scraper's %p", v, flood1, scraper)
	}
	_ = flood1.Close()
	if got := cl.perSrc[netip.MustParseAddr("198.51.100.1")]; got != 2 {
		t.Errorf("connections of the flood's address after a close = %d, want 2", got)
	}
	// A second scraper address with one connection: the flood still gives
	// way, and the scraper's own connection is never the one closed.
	if v := cl.admit(conn("192.0.2.10")); v == scraper || v == nil || v.src != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("admit from a new address closes %+v, want one of the flood's", v)
	}
}

func TestHeaderBytesBounded(t *testing.T) {
	addr := startLimited(t, Limits{}, PageAccess{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET /metrics with 64 KiB of headers = %d, want 431", resp.StatusCode)
	}
}
