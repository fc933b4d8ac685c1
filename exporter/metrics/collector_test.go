package metrics

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
)

func testCollector(h *history.History) *Collector {
	c := NewCollector(h, "1.2.3")
	c.GoVersion = "go1.26.0"
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
	exportertest.Golden(t, "collector.prom", gatherText(t, testCollector(exportertest.History(3))))
}

func TestCollectorEmpty(t *testing.T) {
	// Before the first round: build info, libvirt_up and the threshold
	// only, and the pedantic registry must accept it.
	got := string(gatherText(t, testCollector(history.New(3))))
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
	problems, err := testutil.CollectAndLint(testCollector(exportertest.History(3)))
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
	got := string(gatherText(t, testCollector(exportertest.History(1))))
	if !strings.Contains(got, `vmcheck_domain_state{domain="lab-badgw",state="degraded",uuid="`+exportertest.UUIDBadGW+`"} 1`) {
		t.Errorf("with --down-after 1, lab-badgw must be degraded at once:\n%s", got)
	}
	h := history.New(3)
	doms, res := exportertest.Fixture(exportertest.T0)
	for i := range res {
		h.Record(doms[i], res[i], nil)
	}
	got = string(gatherText(t, testCollector(h)))
	for _, want := range []string{
		`vmcheck_domain_state{domain="lab-badgw",state="unknown",uuid="` + exportertest.UUIDBadGW + `"} 1`,
		`vmcheck_consecutive_failures{domain="lab-badgw",uuid="` + exportertest.UUIDBadGW + `"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
