package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
)

func testServer(t *testing.T, h *history.History) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := metrics.NewCollector(h, "1.2.3")
	c.GoVersion = "go1.26.0"
	reg.MustRegister(c)
	srv := httptest.NewServer(NewHandler(h, HandlerOpts{
		Gatherer: reg, Node: "node-1", Version: "1.2.3",
		Now: func() time.Time { return exportertest.T0.Add(3 * time.Minute) },
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// historyWithExchange is the fixture with a recorded agent exchange for
// lab-debian and the hostile guest.
func historyWithExchange(t *testing.T) *history.History {
	h := exportertest.History(3)
	doms, res := exportertest.Fixture(exportertest.T0.Add(2 * time.Minute))
	for i, r := range res {
		if r.Name != "lab-debian" && r.Name != "zz-hostile" {
			continue
		}
		rec := history.NewRecorder()
		tr := rec.Wrap(guestagent.TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
			if strings.Contains(string(req), "guest-exec-status") {
				// "<script>" and an ANSI escape in the guest's output.
				return []byte(`{"return":{"exited":true,"exitcode":0,"out-data":"UElORyAyMDMuMC4xMTMuMTAgPHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0PhtbMzFtCjEgcmVjZWl2ZWQ=","err-data":""}}`), nil
			}
			return []byte(`{"return":{}}`), nil
		}))
		for _, req := range []string{`{"execute":"guest-ping"}`, `{"execute":"guest-exec-status","arguments":{"pid":42}}`} {
			if _, err := tr.Command(context.Background(), []byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		h.Record(doms[i], r, rec.Exchanges())
	}
	return h
}

func TestStatusPage(t *testing.T) {
	srv := testServer(t, historyWithExchange(t))
	code, body, hdr := get(t, srv.URL+"/")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", code, hdr.Get("Content-Type"))
	}
	if n := strings.Count(body, `<tr class="vm"`); n != 6 {
		t.Errorf("status page has %d VM rows, want 6", n)
	}
	for _, want := range []string{
		`data-domain="lab-badgw" data-state="degraded"`,
		`data-domain="lab-paused" data-state="paused"`,
		`data-domain="zz-hostile" data-state="down"`,
		`web-01 (shop) · shop`,              // Nova names
		`203.0.113.10 ok 1.2 ms`,            // last probe results
		`192.168.122.254 failed`,            // a failed gateway
		`gateway 192.168.122.254: no reply`, // the reason
		`ok: 2`, `degraded: 1`, `down: 1`,   // the summary
		`after 3 consecutive failed rounds`, // the threshold
		`<script src="static/vmcheck.js">`,  // relative times in the browser
		`href="vm/0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01"`,
		`192.168.122.20 ok`, // an assigned address the guest holds
		`192.0.2.99 missing`,
		// The causes, layer first, in plain language, per NIC.
		`data-code="gateway_unresolved" data-layer="network"`,
		`<span class="layer l-network" title="the network&#39;s fault">Network</span>: the gateway does not answer ARP/ND`,
		`NIC 52:54:00:AA:00:02`,
		`<span class="layer l-host" title="the operator&#39;s fault">Host</span>: the NIC&#39;s link is set down on the host (virsh domif-setlink zz-hostile 52:54:00:aa:00:05 up`,
		`data-layer="unknown"`, // a code outside the closed set
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	for _, bad := range []string{"<img src=x", "<script>alert", "\u202e", "\x1b"} {
		if strings.Contains(body, bad) {
			t.Errorf("status page contains unescaped guest text %q", bad)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestStatusPagePending(t *testing.T) {
	h := history.New(3)
	doms, res := exportertest.Fixture(exportertest.T0)
	for i := range res {
		h.Record(doms[i], res[i], nil)
	}
	_, body, _ := get(t, testServer(t, h).URL+"/")
	if !strings.Contains(body, `(failing 1/3)`) {
		t.Errorf("a VM failing its first round must show (failing 1/3)")
	}
}

func TestVMPage(t *testing.T) {
	srv := testServer(t, historyWithExchange(t))
	code, body, _ := get(t, srv.URL+"/vm/"+exportertest.UUIDDebian)
	if code != http.StatusOK {
		t.Fatalf("GET /vm/%s = %d", exportertest.UUIDDebian, code)
	}
	for _, want := range []string{
		`<h1>lab-debian</h1>`, `guest-ping`, `guest-exec-status`,
		`PING 203.0.113.10 &lt;script&gt;alert(1)&lt;/script&gt; [31m`, // decoded, escaped, ESC removed
		`192.168.122.10`, `libvirt-network`, `qemu-ga 7.2.0`, `instance web-01 (shop), project shop`,
		`<script src="../static/vmcheck.js">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("VM page lacks %q", want)
		}
	}
	_, body, _ = get(t, srv.URL+"/vm/"+exportertest.UUIDEvil)
	for _, want := range []string{
		`<table id="diagnosis">`,
		`<td><span class="layer l-host">Host</span></td><td><code>host_link_down</code></td><td>52:54:00:aa:00:05</td>`,
		`&lt;script&gt;alert(2)&lt;/script&gt; link down`, // the evidence, escaped
		`<td><span class="muted">the VM</span></td>`,      // upstream_unreachable concerns the whole VM
	} {
		if !strings.Contains(body, want) {
			t.Errorf("VM page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<b>no</b>", "\x1b", "\u202e", "evil\"", "\nfake"} {
		if strings.Contains(body, bad) {
			t.Errorf("VM page contains unescaped guest text %q", bad)
		}
	}
	if code, _, _ := get(t, srv.URL+"/vm/nope"); code != http.StatusNotFound {
		t.Errorf("GET /vm/nope = %d, want 404", code)
	}
}

func TestAPIAndMetrics(t *testing.T) {
	srv := testServer(t, exportertest.History(3))
	_, body, _ := get(t, srv.URL+"/api/results")
	var rep model.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || len(rep.Domains) != 6 {
		t.Errorf("/api/results: %d domains, err %v", len(rep.Domains), err)
	}
	code, body, _ := get(t, srv.URL+"/api/results/"+exportertest.UUIDBadGW)
	if code != http.StatusOK || !strings.Contains(body, `"name": "lab-badgw"`) {
		t.Errorf("/api/results/{uuid} = %d %s", code, body)
	}
	_, body, _ = get(t, srv.URL+"/metrics")
	exportertest.ParseTextfile(t, []byte(body))
	if !strings.Contains(body, `vmcheck_domain_state{domain="lab-badgw",state="degraded"`) {
		t.Errorf("/metrics lacks lab-badgw's state")
	}
	if code, body, _ := get(t, srv.URL+"/static/vmcheck.js"); code != http.StatusOK || !strings.Contains(body, "data-js") {
		t.Errorf("/static/vmcheck.js = %d", code)
	}
	if code, _, _ := get(t, srv.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestPolicyText(t *testing.T) {
	f := false
	tests := []struct {
		p    policy.Policy
		want string
	}{
		{policy.Policy{}, "defaults"},
		{policy.Policy{Enabled: &f, Interval: 5 * time.Minute, RetryInterval: 15 * time.Second, Targets: []netip.Addr{netip.MustParseAddr("192.0.2.7")}},
			"enabled=false; interval 5m0s; retry interval 15s; extra targets 192.0.2.7"},
		{policy.Policy{RetryInterval: 5 * time.Second}, "retry interval 5s"},
	}
	for _, tt := range tests {
		if got := policyText(tt.p); got != tt.want {
			t.Errorf("policyText(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
