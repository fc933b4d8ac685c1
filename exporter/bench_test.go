package exporter_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/exporter/cron"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/exporter/web"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// benchRound returns 1000 simulated domains and their checked results,
// one in ten with a failing external probe.
func benchRound(b *testing.B) ([]model.Domain, []model.Result) {
	b.Helper()
	ext := netip.MustParseAddr("203.0.113.10")
	doms, _ := sim.Fleet(sim.FleetConfig{N: 1000, External: ext, Latency: &sim.Latency{}, BusyboxEvery: 10})
	c := checker.New(settings.Config{External: []netip.Addr{ext}, Timeout: config.Duration(10 * time.Second)})
	rs := c.CheckAll(context.Background(), doms)
	for i := range rs {
		if rs[i].State != model.StateOK {
			b.Fatalf("%s: %s", rs[i].Name, rs[i].Reason)
		}
		if i%10 == 0 {
			rs[i].State, rs[i].Reason = model.StateDegraded, "external 203.0.113.10: no reply"
			rs[i].Probes[0].OK, rs[i].Probes[0].Status, rs[i].Probes[0].Error = false, model.ProbeFailed, "no reply"
		}
	}
	return doms, rs
}

// benchHistory is a History holding one round of 1000 domains, and a
// registry with its Collector.
func benchHistory(b *testing.B) (*history.History, *prometheus.Registry, func()) {
	b.Helper()
	doms, rs := benchRound(b)
	h := history.New(1)
	h.SetLibvirtUp(true)
	record := func() {
		for i := range rs {
			h.Record(doms[i], rs[i], nil)
		}
		h.SetRound(history.Round{Start: time.Now(), Duration: time.Second, Domains: len(rs)})
	}
	record()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(h, "bench"))
	return h, reg, record
}

// BenchmarkGather gathers the metrics of 1000 domains: "fresh" right after
// a round (every domain's metrics are rebuilt), "cached" between rounds.
func BenchmarkGather(b *testing.B) {
	for _, fresh := range []bool{true, false} {
		b.Run(map[bool]string{true: "fresh", false: "cached"}[fresh], func(b *testing.B) {
			_, reg, record := benchHistory(b)
			b.ReportAllocs()
			for b.Loop() {
				if fresh {
					b.StopTimer()
					record()
					b.StartTimer()
				}
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScrape serves GET /metrics for 1000 domains between rounds, as
// Prometheus asks for it (gzip) and plain: via promhttp with every metric
// in one registry, as before, and cached as `vmcheck serve` wires it now
// (HandlerOpts.Collector: vmcheck's metrics encoded once per History
// change); the Go and process collectors are in both. Compare with
// benchstat -filter .name:Scrape -col /via.
func BenchmarkScrape(b *testing.B) {
	for _, cached := range []bool{false, true} {
		for _, gz := range []bool{true, false} {
			name := "via=" + map[bool]string{false: "promhttp", true: "cached"}[cached] + "/enc=" + map[bool]string{true: "gzip", false: "plain"}[gz]
			b.Run(name, func(b *testing.B) {
				h, _, _ := benchHistory(b)
				runtime := prometheus.NewRegistry()
				runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				opts := web.HandlerOpts{Gatherer: runtime}
				if cached {
					opts.Collector = metrics.NewCollector(h, "bench")
				} else {
					all := prometheus.NewRegistry()
					all.MustRegister(metrics.NewCollector(h, "bench"), collectors.NewGoCollector(),
						collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
					opts.Gatherer = all
				}
				srv := web.NewHandler(h, opts)
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				b.ReportAllocs()
				var n int
				for b.Loop() {
					w := httptest.NewRecorder()
					srv.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("GET /metrics: %d", w.Code)
					}
					n = w.Body.Len()
				}
				b.ReportMetric(float64(n), "bytes")
			})
		}
	}
}

// BenchmarkStatusPage renders the status page of 1000 domains.
func BenchmarkStatusPage(b *testing.B) {
	h, reg, _ := benchHistory(b)
	srv := web.NewHandler(h, web.HandlerOpts{Gatherer: reg})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /: %d", w.Code)
		}
	}
}

// BenchmarkWriteTextfile writes the node_exporter textfile of 1000
// domains (gather, encode, write, fsync, rename).
func BenchmarkWriteTextfile(b *testing.B) {
	_, reg, _ := benchHistory(b)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := cron.WriteTextfile(dir, "vmcheck.prom", reg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrapeParts splits what the cached /metrics handler saves
// (BenchmarkScrape's via=cached/enc=gzip) into its two parts, for 1000
// domains between rounds, gzip as Prometheus asks: "encode" gathers and
// encodes vmcheck's metrics on every scrape (as promhttp does) but does
// not compress them; "compress" keeps their text from the last change
// and only gzips it (compress/gzip at its fastest level, the library's
// best case) on every scrape. Each also gathers the runtime metrics,
// as every handler must. The cached handler does neither part per scrape.
func BenchmarkScrapeParts(b *testing.B) {
	_, reg, _ := benchHistory(b)
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	encode := func(w io.Writer, g prometheus.Gatherer) {
		mfs, err := g.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	var text bytes.Buffer
	encode(&text, reg)
	b.Run("part=encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out bytes.Buffer
			encode(&out, runtime)
			encode(&out, reg)
		}
	})
	b.Run("part=compress", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			var head, out bytes.Buffer
			encode(&head, runtime)
			zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
			_, _ = zw.Write(head.Bytes())
			_, _ = zw.Write(text.Bytes())
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
			n = out.Len()
		}
		b.ReportMetric(float64(n), "bytes")
	})
}
