package exporter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/exporter")

// golden compares got with testdata/exporter/name byte for byte.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "exporter", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./exporter -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./exporter -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func testCollector(h *History) *Collector {
	c := NewCollector(h, "1.2.3")
	c.goVersion = "go1.26.0"
	return c
}

func gatherText(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestCollectorGolden(t *testing.T) {
	golden(t, "collector.prom", gatherText(t, testCollector(fixtureHistory(3))))
}

func TestCollectorEmpty(t *testing.T) {
	// Before the first round: build info, libvirt_up and the threshold
	// only, and the pedantic registry must accept it.
	got := string(gatherText(t, testCollector(NewHistory(3))))
	for _, want := range []string{"vmcheck_build_info{", "vmcheck_libvirt_up 0", "vmcheck_down_after_rounds 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "vmcheck_round_duration_seconds") {
		t.Errorf("round metrics before the first round:\n%s", got)
	}
}

func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(testCollector(fixtureHistory(3)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorPending(t *testing.T) {
	// After one failed round of three, the failing VMs are not yet
	// degraded or down.
	got := string(gatherText(t, testCollector(fixtureHistory(1))))
	if !strings.Contains(got, `vmcheck_domain_state{domain="lab-badgw",state="degraded",uuid="`+uuidBadGW+`"} 1`) {
		t.Errorf("with --down-after 1, lab-badgw must be degraded at once:\n%s", got)
	}
	h := NewHistory(3)
	doms, res := fixture(t0)
	for i := range res {
		h.Record(doms[i], res[i], nil)
	}
	got = string(gatherText(t, testCollector(h)))
	for _, want := range []string{
		`vmcheck_domain_state{domain="lab-badgw",state="unknown",uuid="` + uuidBadGW + `"} 1`,
		`vmcheck_consecutive_failures{domain="lab-badgw",uuid="` + uuidBadGW + `"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
