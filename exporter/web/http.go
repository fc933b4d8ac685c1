// Package web is the web side of `vmcheck serve`: the status and VM
// pages, the JSON API and /metrics over the latest History snapshot
// (NewHandler), who may read the pages (PageAccess), the connection
// limits of the listeners (Limits), and the Server that runs them beside
// the schedule.Runner.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/policy"
)

//go:embed templates/*.html templates/vmcheck.js
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"unix":    func(t time.Time) string { return fmt.Sprintf("%.3f", metrics.UnixSeconds(t)) },
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"seconds": func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) },
	"dur":     func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"ms":      func(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) },
	"join":    strings.Join,
	"policy":  policyText,
	"clean":   func(v any) string { return clean(fmt.Sprint(v)) },
	"outcome": func(p model.ProbeResult) string { return clean(output.ProbeOutcome(p, output.Spaced)) },
}).ParseFS(templateFS, "templates/*.html"))

// HandlerOpts configures the HTTP handler of `vmcheck serve`.
type HandlerOpts struct {
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Collector, if set, is served at /metrics as well, from a cache
	// renewed when the History changes rather than on every scrape;
	// Gatherer then holds the other metrics (Go runtime, process) and must
	// not include the Collector.
	Collector *metrics.Collector
	// Node names the host on the status page.
	Node string
	// Version is vmcheck's version, shown in the page footer.
	Version string
	// Refresh makes the status page reload itself this often; 0 disables.
	Refresh time.Duration
	// Now returns the current time (time.Now if nil); tests fix it.
	Now func() time.Time
}

// NewHandler returns the exporter's HTTP handler:
//
//	/                   status page: every VM, its state, since when, last probes, reason
//	/vm/{uuid}          one VM: probes, NICs, and the last check's agent exchange
//	/metrics            Prometheus metrics
//	/api/results        the last results as `vmcheck check --output json` prints them
//	/api/results/{uuid} one VM's last result
//	/-/healthy          liveness
//
// Every page reads the History's latest snapshot; none talks to a guest.
func NewHandler(h *history.History, opts HandlerOpts) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	mux := http.NewServeMux()
	s := &site{h: h, opts: opts}
	mux.HandleFunc("GET /{$}", s.status)
	mux.HandleFunc("GET /vm/{uuid}", s.vm)
	mux.HandleFunc("GET /api/results", s.results)
	mux.HandleFunc("GET /api/results/{uuid}", s.result)
	mux.HandleFunc("GET /static/vmcheck.js", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := templateFS.ReadFile("templates/vmcheck.js")
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	switch {
	case opts.Collector != nil:
		mux.Handle("GET /metrics", metrics.NewHandler(h, opts.Collector, opts.Gatherer))
	case opts.Gatherer != nil:
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	return mux
}

type site struct {
	h    *history.History
	opts HandlerOpts
}

// page is what every template gets.
type page struct {
	Title     string
	Base      string // relative path to the site root: "" or "../"
	Node      string
	Version   string
	Refresh   int
	Now       time.Time
	Snap      *history.Snapshot
	DownAfter int
	Counts    []stateCount
	Rows      []statusRow
	Entry     *history.Entry
	// Diagnosis is the VM page's list of causes.
	Diagnosis []diagnosisItem
}

type stateCount struct {
	State model.State
	N     int
}

// statusRow is one line of the status page.
type statusRow struct {
	Name, UUID string
	Nova       model.Nova
	State      model.State
	Pending    bool
	Failures   int
	Since      time.Time
	Checked    time.Time
	Duration   string
	Agent      string
	OS         string
	External   []probeCell
	Gateways   []probeCell
	Addresses  []probeCell
	Diagnosis  []diagnosisItem
	Reason     string
}

type probeCell struct {
	Status model.ProbeStatus
	Text   string
}

func (s *site) base(title string) page {
	snap := s.h.Snapshot()
	return page{
		Title: title, Node: s.opts.Node, Version: s.opts.Version, Refresh: int(s.opts.Refresh.Seconds()),
		Now: s.opts.Now(), Snap: snap, DownAfter: snap.DownAfter,
	}
}

func (s *site) status(w http.ResponseWriter, _ *http.Request) {
	p := s.base("vmcheck — " + s.opts.Node)
	counts := map[model.State]int{}
	for _, e := range p.Snap.Entries {
		if e.Result.CheckedAt.IsZero() {
			continue
		}
		counts[e.State]++
		p.Rows = append(p.Rows, rowOf(e))
	}
	for _, st := range history.States {
		p.Counts = append(p.Counts, stateCount{st, counts[st]})
	}
	render(w, "status.html", p)
}

// clean sanitises a string that may come from a guest before it is shown:
// html/template escapes markup, clean removes control, format and bidi
// characters and caps the length.
func clean(s string) string { return guestagent.Sanitize(s, 500) }

func rowOf(e history.Entry) statusRow {
	r := e.Result
	row := statusRow{
		Name: clean(r.Name), UUID: r.UUID, State: e.State, Pending: e.Pending,
		Nova:     model.Nova{Instance: clean(e.Nova.Instance), Project: clean(e.Nova.Project)},
		Failures: e.ConsecutiveFailures, Since: e.Since, Checked: r.CheckedAt,
		Duration: fmt.Sprintf("%.1fs", r.Duration), Agent: clean(string(r.Agent.State)), OS: clean(output.OSTextVersion(r.OS)),
		Reason: clean(r.Reason),
	}
	for _, pr := range r.Probes {
		c := probeCell{Status: pr.Status, Text: clean(output.ProbeSummary(pr, output.Spaced))}
		switch pr.Kind {
		case model.ProbeGateway:
			row.Gateways = append(row.Gateways, c)
		case model.ProbeAddress:
			row.Addresses = append(row.Addresses, c)
		default:
			row.External = append(row.External, c)
		}
	}
	row.Diagnosis = diagnosisItems(r)
	return row
}

// diagnosisItem is one cause of a failed check as the pages show it: whose
// fault (the layer), on which NIC, in plain language with the remedy, and
// the engine's evidence. Every string is sanitised; Layer is the code's
// layer in model.Codes, or "unknown" for a code outside the closed set,
// so it is safe as a class name.
type diagnosisItem struct {
	Layer     model.Layer
	LayerName string // "Host", "Guest", "Network"
	Owner     string // "the operator's", …
	Code      string
	NIC       string // the MAC, with the NIC's host device and guest name when known
	Text      string
	Detail    string
}

// diagnosisItems renders r's diagnoses, most fundamental first.
func diagnosisItems(r model.Result) []diagnosisItem {
	var out []diagnosisItem
	for _, d := range r.Diagnosis {
		layer, ok := model.Codes[d.Code] // the code's own layer
		if !ok {
			layer = "unknown"
		}
		out = append(out, diagnosisItem{
			Layer: layer, LayerName: output.LayerName(layer), Owner: output.LayerOwner(layer),
			Code: clean(string(d.Code)), NIC: clean(nicText(d.NIC, r.NICs)),
			Text: clean(output.DiagnosisPlain(d, r)), Detail: clean(d.Detail),
		})
	}
	return out
}

// nicText names a NIC by its MAC and, when known, its host device and
// guest interface name: "52:54:00:aa:00:01 (vnet0, eth0)".
func nicText(mac guestagent.MAC, nics []model.NICResult) string {
	if mac == "" {
		return ""
	}
	for _, n := range nics {
		if !strings.EqualFold(n.MAC.String(), mac.String()) {
			continue
		}
		var names []string
		for _, s := range []string{n.Device, n.GuestName} {
			if s != "" {
				names = append(names, s)
			}
		}
		if len(names) > 0 {
			return mac.String() + " (" + strings.Join(names, ", ") + ")"
		}
	}
	return mac.String()
}

func policyText(p policy.Policy) string {
	var parts []string
	if p.Enabled != nil {
		parts = append(parts, fmt.Sprintf("enabled=%t", *p.Enabled))
	}
	if p.Interval != 0 {
		parts = append(parts, "interval "+p.Interval.String())
	}
	if p.RetryInterval != 0 {
		parts = append(parts, "retry interval "+p.RetryInterval.String())
	}
	if len(p.Targets) > 0 {
		t := make([]string, len(p.Targets))
		for i, a := range p.Targets {
			t[i] = a.String()
		}
		parts = append(parts, "extra targets "+strings.Join(t, ", "))
	}
	if len(parts) == 0 {
		return "defaults"
	}
	return strings.Join(parts, "; ")
}

func (s *site) vm(w http.ResponseWriter, r *http.Request) {
	p := s.base("")
	e, ok := p.Snap.Lookup(r.PathValue("uuid"))
	if !ok || e.Result.CheckedAt.IsZero() {
		http.Error(w, "no such VM (it may have stopped; see the status page)", http.StatusNotFound)
		return
	}
	p.Title, p.Base = "vmcheck — "+clean(e.Result.Name), "../"
	p.Entry, p.Diagnosis = &e, diagnosisItems(e.Result)
	render(w, "vm.html", p)
}

func (s *site) results(w http.ResponseWriter, _ *http.Request) {
	snap := s.h.Snapshot()
	var rs []model.Result
	for _, e := range snap.Entries {
		if !e.Result.CheckedAt.IsZero() {
			rs = append(rs, e.Result)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = output.WriteJSON(w, rs)
}

func (s *site) result(w http.ResponseWriter, r *http.Request) {
	e, ok := s.h.Snapshot().Lookup(r.PathValue("uuid"))
	if !ok || e.Result.CheckedAt.IsZero() {
		http.Error(w, "no such VM", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(e.Result)
}

func render(w http.ResponseWriter, name string, p page) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'")
	_, _ = w.Write(buf.Bytes())
}
