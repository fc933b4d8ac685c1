package metrics

import (
	"bytes"
	"compress/gzip"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/model"
)

// cacheServers returns two handlers over the same History and metrics:
// the cached one (Handler) and plain promhttp over one
// registry holding everything, as before the cache.
func cacheServers(t *testing.T, h *history.History) (cached, plain http.Handler) {
	t.Helper()
	// A fixed "other" collector, so both answers can be compared byte
	// for byte (the Go collector's values move between two scrapes).
	others := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_test_fixed", Help: "A fixed value."})
	g.Set(42)
	others.MustRegister(g, collectors.NewBuildInfoCollector())
	all := prometheus.NewRegistry()
	all.MustRegister(g, collectors.NewBuildInfoCollector(), testCollector(h))
	cached = NewHandler(h, testCollector(h), others)
	plain = promhttp.HandlerFor(all, promhttp.HandlerOpts{})
	return cached, plain
}

// scrapeBody GETs /metrics with the given headers and returns the body,
// decompressed when gzipped. Only the first gzip member is read: a body
// of several members would come out short.
func scrapeBody(t *testing.T, h http.Handler, accept, encoding string) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics (Accept %q, Accept-Encoding %q) = %d: %s", accept, encoding, w.Code, w.Body)
	}
	body := w.Body.Bytes()
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body (Accept-Encoding %q): %v", encoding, err)
		}
		body = b
	}
	return string(body), w.Header()
}

func TestMetricsCacheMatchesPromhttp(t *testing.T) {
	h := exportertest.History(3)
	cached, plain := cacheServers(t, h)
	for _, tc := range []struct {
		name, accept, encoding string
		gzip                   bool
	}{
		{"prometheus", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1", "gzip", true},
		{"curl", "*/*", "", false},
		{"browser", "text/html,*/*;q=0.8", "gzip, deflate, br", true},
		{"identity preferred", "", "gzip, identity", false},
		{"gzip refused", "", "gzip;q=0", false},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "gzip", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				got, gh := scrapeBody(t, cached, tc.accept, tc.encoding)
				want, wh := scrapeBody(t, plain, tc.accept, tc.encoding)
				if got != want {
					t.Fatalf("cached /metrics differs from promhttp's:\n%s", exportertest.LineDiff(want, got))
				}
				if (gh.Get("Content-Encoding") == "gzip") != tc.gzip {
					t.Errorf("Content-Encoding = %q, want gzip: %t", gh.Get("Content-Encoding"), tc.gzip)
				}
				for _, k := range []string{"Content-Type", "Content-Encoding"} {
					if gh.Get(k) != wh.Get(k) {
						t.Errorf("%s = %q, promhttp says %q", k, gh.Get(k), wh.Get(k))
					}
				}
			}
		})
	}
}

func TestMetricsCacheFollowsHistory(t *testing.T) {
	h := exportertest.History(3)
	cached, plain := cacheServers(t, h)
	before, _ := scrapeBody(t, cached, "", "gzip")
	doms, res := exportertest.Fixture(exportertest.T0.Add(10 * time.Minute))
	res[0].State, res[0].Probes[0].Status, res[0].Probes[0].OK = model.StateDegraded, model.ProbeFailed, false
	h.Record(doms[0], res[0], nil)
	after, _ := scrapeBody(t, cached, "", "gzip")
	want, _ := scrapeBody(t, plain, "", "gzip")
	if after == before || after != want {
		t.Errorf("after a new result, cached /metrics is stale:\n%s", exportertest.LineDiff(want, after))
	}
}

func TestCRC32Combine(t *testing.T) {
	data := bytes.Repeat([]byte("vmcheck_domain_state{domain=\"x\"} 1\n"), 3000)
	for _, cut := range []int{0, 1, 7, 64, 1000, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), len(b))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("crc32Combine at %d = %08x, want %08x", cut, got, want)
		}
	}
}
