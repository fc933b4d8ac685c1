package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/labels"
	"github.com/vmcheck/vmcheck/model"
)

// seriesOf gathers c and returns the identity (name and labels) of every
// per-VM series, i.e. those with a uuid label.
func seriesOf(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			id, perVM := mf.GetName(), false
			for _, lp := range m.GetLabel() {
				id += fmt.Sprintf(",%s=%q", lp.GetName(), lp.GetValue())
				perVM = perVM || lp.GetName() == "uuid"
			}
			if perVM {
				out = append(out, id)
			}
		}
	}
	return out
}

func TestLabelBudgetBoundsSeries(t *testing.T) {
	// Per VM over its life: 5 domain_state, 5 other per-VM gauges,
	// domain_info within its budget plus the Placeholder set, one external
	// probe (success and rtt), gateway probes (success and rtt) within their
	// budget plus the Placeholder, vmcheck_probes_omitted, address probes
	// (success only) within their budget plus the Placeholder, and
	// vmcheck_diagnosis for one code on NICs within their budget plus the
	// Placeholder (the other code is outside the closed set: no series);
	// vmcheck_domain_alert_info; vmcheck_nic_info within its budget plus
	// the Placeholder; vmcheck_domain_cause for that code on those NICs
	// with their network, plus the Placeholder.
	const bound = 5 + 5 + (labels.MaxInfoSets + 1) + 2 + 2*(labels.MaxGatewaySets+1) + 1 + (labels.MaxAddressSets + 1) + (labels.MaxDiagnosisNICs + 1) +
		1 + (labels.MaxNICSets + 1) + (labels.MaxDiagnosisNICs + 1)
	h := history.New(3)
	c := testCollector(h)
	all := map[string]bool{}
	var last []string
	for i := range 1000 {
		d, r := exportertest.HostileRound(i)
		h.Record(d, r, nil)
		last = seriesOf(t, c)
		for _, s := range last {
			all[s] = true
		}
	}
	t.Logf("%d distinct per-VM series over 1000 rounds (bound %d)", len(all), bound)
	if len(all) > bound {
		t.Errorf("1000 rounds with a new gateway each made %d distinct series, want at most %d", len(all), bound)
	}
	for _, want := range []string{
		`vmcheck_domain_info,domain="vm",nova_instance="other",nova_project="other",os_family="other",os_id="other",os_version="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_probe_success,domain="vm",kind="gateway",method="icmp",nic="other",target="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_probe_success,domain="vm",kind="external",method="icmp",nic="",target="203.0.113.10",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_probes_omitted,domain="vm",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_probe_success,domain="vm",kind="address",method="",nic="other",target="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_diagnosis,code="host_link_down",domain="vm",layer="host",nic="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_nic_info,domain="vm",network="other",nic="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_domain_cause,code="host_link_down",domain="vm",layer="host",network="",nic="other",uuid="` + exportertest.UUIDDebian + `"`,
		`vmcheck_domain_alert_info,domain="vm",notify="operator",receiver="",severity="warning",tenant="p",uuid="` + exportertest.UUIDDebian + `"`,
	} {
		if !slices.Contains(last, want) {
			t.Errorf("the last round lacks %s; it has:\n%s", want, strings.Join(last, "\n"))
		}
	}

	// A domain that stops and starts again (gone from one listing, back in
	// the next) keeps its spent budget: its series do not grow per cycle.
	h.Retain(map[string]bool{})
	d, r := exportertest.HostileRound(5000)
	h.Record(d, r, nil)
	if got := seriesOf(t, c); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, `os_version="v5000"`) }) {
		t.Errorf("after the domain came back, domain_info got a new value set beyond its budget:\n%s", strings.Join(got, "\n"))
	}
	// Only after MaxRetired other domains went away is it forgotten.
	h.Retain(map[string]bool{})
	// (TestRetiredBounded in exporter/history checks that no more are kept.)
	for i := range history.MaxRetired {
		u := fmt.Sprintf("0b4ec1c4-5d3a-4c5e-9b1e-%012x", i)
		h.Record(model.Domain{Name: "gone", UUID: u}, model.Result{Name: "gone", UUID: u, State: model.StateOK, CheckedAt: exportertest.T0}, nil)
		h.Retain(map[string]bool{})
	}
	d, r = exportertest.HostileRound(6000)
	h.Record(d, r, nil)
	if got := seriesOf(t, c); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, `os_version="v6000"`) }) {
		t.Errorf("a domain back after %d others retired still has its old budget:\n%s", history.MaxRetired, strings.Join(got, "\n"))
	}
}
