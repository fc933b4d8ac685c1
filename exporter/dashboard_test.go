package exporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// The dashboard's data source: a variable of type "datasource" that the
// operator picks on import.
const (
	dashboardDatasourceType = "prometheus"
	dashboardDatasourceUID  = "${datasource}"
)

// gridColumns is the width of Grafana's dashboard grid.
const gridColumns = 24

// TestDashboardValid checks deploy/grafana/vmcheck.json with Grafana's
// own dashboard model, github.com/grafana/grafana-foundation-sdk/go
// (generated from the schemas Grafana validates dashboards against): see
// dashboardProblems for what it rejects.
func TestDashboardValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "vmcheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboardProblems(b, exportedMetrics()) {
		t.Errorf("vmcheck.json: %s", p)
	}
}

// TestDashboardProblems makes sure dashboardProblems catches each kind of
// broken panel, starting from the shipped dashboard.
func TestDashboardProblems(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "vmcheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d map[string]any, panels []any)
		want   string
	}{
		{"unknown panel type", func(_ map[string]any, ps []any) { panel(ps, 1)["type"] = "graph2" }, `unknown panel type "graph2"`},
		{"unknown panel field", func(_ map[string]any, ps []any) { panel(ps, 1)["tittle"] = "x" }, "unexpected field 'tittle'"},
		{"wrong field type", func(_ map[string]any, ps []any) { panel(ps, 1)["title"] = 7 }, "title: json: cannot unmarshal number"},
		{"unknown option", func(_ map[string]any, ps []any) {
			panel(ps, 1)["options"].(map[string]any)["colourMode"] = "x"
		}, "unexpected field 'colourMode'"},
		{"unknown query field", func(_ map[string]any, ps []any) { target(ps, 1, 0)["legendFromat"] = "x" }, "unexpected field 'legendFromat'"},
		{"unknown top-level field", func(d map[string]any, _ []any) { d["panel"] = []any{} }, "unexpected field 'panel'"},
		{"missing datasource", func(_ map[string]any, ps []any) { delete(panel(ps, 1), "datasource") }, "no data source"},
		{"other datasource", func(_ map[string]any, ps []any) {
			panel(ps, 1)["datasource"] = map[string]any{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
		}, "data source"},
		{"target datasource", func(_ map[string]any, ps []any) {
			target(ps, 1, 0)["datasource"] = map[string]any{"type": "loki", "uid": "${datasource}"}
		}, "data source"},
		{"no gridPos", func(_ map[string]any, ps []any) { delete(panel(ps, 1), "gridPos") }, "no gridPos"},
		{"zero width", func(_ map[string]any, ps []any) { gridPos(ps, 1)["w"] = 0 }, "w: must be > 0"},
		{"past the right edge", func(_ map[string]any, ps []any) { gridPos(ps, 1)["x"] = 22 }, "right edge"},
		{"overlap", func(_ map[string]any, ps []any) { gridPos(ps, 2)["x"] = 1 }, "overlaps"},
		{"duplicate id", func(_ map[string]any, ps []any) { panel(ps, 2)["id"] = panel(ps, 1)["id"] }, "duplicate panel id"},
		{"no id", func(_ map[string]any, ps []any) { delete(panel(ps, 1), "id") }, "no id"},
		{"unknown metric", func(_ map[string]any, ps []any) {
			target(ps, 1, 0)["expr"] = `sum(vmcheck_domain_states{state="ok"})`
		}, "vmcheck_domain_states, which vmcheck does not export"},
		{"unknown metric in a variable", func(d map[string]any, _ []any) {
			v := d["templating"].(map[string]any)["list"].([]any)[1].(map[string]any)
			v["query"] = map[string]any{"query": "label_values(vmcheck_info, instance)", "refId": "instance"}
		}, "vmcheck_info, which vmcheck does not export"},
		{"undefined variable", func(_ map[string]any, ps []any) {
			target(ps, 1, 0)["expr"] = `sum(vmcheck_domain_state{instance=~"$node"})`
		}, "undefined variable $node"},
		{"empty query", func(_ map[string]any, ps []any) { target(ps, 1, 0)["expr"] = "" }, "empty query"},
		{"duplicate refId", func(_ map[string]any, ps []any) {
			i := panelIndex(ps, "VMs now")
			target(ps, i, 1)["refId"] = target(ps, i, 0)["refId"]
		}, "duplicate refId"},
		{"no query", func(_ map[string]any, ps []any) { delete(panel(ps, 1), "targets") }, "no query"},
		{"not in __requires", func(d map[string]any, _ []any) {
			d["__requires"] = slices.DeleteFunc(d["__requires"].([]any), func(r any) bool {
				return r.(map[string]any)["id"] == "stat"
			})
		}, `panel type "stat" is not listed in __requires`},
	}
	known := exportedMetrics()
	if got := dashboardProblems(b, known); len(got) != 0 {
		t.Fatalf("the shipped dashboard is not valid, so the cases below prove nothing: %q", got)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			tt.mutate(d, d["panels"].([]any))
			broken, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			got := dashboardProblems(broken, known)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("dashboardProblems(%s) = %q, want one containing %q", tt.name, got, tt.want)
			}
		})
	}
}

func panel(ps []any, i int) map[string]any { return ps[i].(map[string]any) }

// panelIndex returns the index of the panel with this title, or -1.
func panelIndex(ps []any, title string) int {
	return slices.IndexFunc(ps, func(p any) bool { return p.(map[string]any)["title"] == title })
}

func gridPos(ps []any, i int) map[string]any {
	return panel(ps, i)["gridPos"].(map[string]any)
}

func target(ps []any, i, j int) map[string]any {
	return panel(ps, i)["targets"].([]any)[j].(map[string]any)
}

// exportedMetrics returns the name of every metric the Collector
// describes.
func exportedMetrics() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	NewCollector(NewHistory(3), "").Describe(ch)
	close(ch)
	known := map[string]bool{}
	nameRE := regexp.MustCompile(`fqName: "([a-zA-Z0-9_:]+)"`)
	for d := range ch {
		if m := nameRE.FindStringSubmatch(d.String()); m != nil {
			known[m[1]] = true
		}
	}
	return known
}

// Patterns in queries.
var (
	vmcheckMetricRE = regexp.MustCompile(`\bvmcheck_[a-zA-Z0-9_:]*`)
	variableRE      = regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)`)
	// defaultedRE matches the paths of fields the schema marks required
	// but gives a default, which Grafana fills in when it loads the
	// dashboard: panel options, field config, and a variable's current
	// value.
	defaultedRE = regexp.MustCompile(`^panels\[\d+\]\.(panels\[\d+\]\.)?(options|fieldConfig)\.|^templating\.list\[\d+\]\.current\.`)
)

// defaulted reports whether a schema error (path: message) is a required
// field missing where Grafana supplies the default.
func defaulted(e string) bool {
	return strings.HasSuffix(e, ": required field is missing from input") && defaultedRE.MatchString(e)
}

// dashboardProblems returns what is wrong with a Grafana dashboard (JSON
// in b) as vmcheck ships it:
//
//   - anything Grafana's schema rejects, decoded strictly by the
//     foundation SDK: an unknown field at any level (panel options and
//     Prometheus queries included), a field of the wrong type, a violated
//     constraint (gridPos width 1–24, x < 24, height > 0 …). Required
//     fields the schema gives a default are not required: Grafana fills
//     them in;
//   - a panel type Grafana does not know, or one not listed in __requires;
//   - a panel without an id, or with one another panel has;
//   - a panel off the grid's right edge or overlapping another one;
//   - a panel without the dashboard's Prometheus data source variable, a
//     query on another data source, no query or an empty one, duplicate
//     refIds;
//   - a query or template variable naming a vmcheck_ metric not in known,
//     or a template variable the dashboard does not define.
func dashboardProblems(b []byte, known map[string]bool) []string {
	plugins.RegisterDefaultPlugins() // panel and query types, for strict decoding
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }

	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return []string{err.Error()}
	}
	// __requires and __inputs are Grafana's export envelope, read on
	// import; they are not part of the dashboard model.
	var requires []struct{ Type, ID string }
	if err := json.Unmarshal(top["__requires"], &requires); top["__requires"] != nil && err != nil {
		add("__requires: %v", err)
	}
	delete(top, "__requires")
	delete(top, "__inputs")
	body, err := json.Marshal(top)
	if err != nil {
		return []string{err.Error()}
	}

	// The classic dashboard model (schemaVersion 3x-4x) is the format of
	// dashboard JSON files; dashboardv2 is Grafana 12's new resource
	// format, which vmcheck.json is not.
	var d dashboard.Dashboard //lint:ignore SA1019 the file is a classic dashboard
	for _, e := range schemaErrors(d.UnmarshalJSONStrict(body)) {
		if !strings.HasPrefix(e, "panels[") && !defaulted(e) { // panels are decoded one by one below
			add("%s", e)
		}
	}
	for _, e := range schemaErrors(d.Validate()) {
		add("%s", e)
	}
	if d.Uid == nil || *d.Uid == "" || d.Title == nil || *d.Title == "" {
		add("the dashboard needs a uid and a title")
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	checkQuery := func(where, q string) {
		if strings.TrimSpace(q) == "" {
			add("%s: empty query", where)
		}
		for _, m := range vmcheckMetricRE.FindAllString(q, -1) {
			if !known[m] {
				add("%s uses %s, which vmcheck does not export", where, m)
			}
		}
		for _, m := range variableRE.FindAllStringSubmatch(q, -1) {
			if !vars[m[1]] && !strings.HasPrefix(m[1], "__") { // $__rate_interval and the like are Grafana's
				add("%s uses the undefined variable $%s", where, m[1])
			}
		}
	}
	for _, v := range d.Templating.List {
		where := "variable " + v.Name
		switch v.Type {
		case dashboard.VariableTypeDatasource:
			if v.Query == nil || v.Query.String == nil || *v.Query.String != dashboardDatasourceType {
				add("%s: a data source variable must offer %s data sources", where, dashboardDatasourceType)
			}
		case dashboard.VariableTypeQuery:
			if !ourDatasource(v.Datasource) {
				add("%s: data source is not the %s variable", where, dashboardDatasourceUID)
			}
			q := ""
			if v.Query != nil && v.Query.String != nil {
				q = *v.Query.String
			} else if v.Query != nil {
				q, _ = v.Query.Map["query"].(string)
			}
			checkQuery(where, q)
		}
	}

	var raw []json.RawMessage
	if err := json.Unmarshal(top["panels"], &raw); err != nil || len(raw) == 0 {
		return append(probs, "no panels")
	}
	types := map[string]bool{}
	for _, r := range requires {
		if r.Type == "panel" {
			types[r.ID] = true
		}
	}
	ids := map[uint32]string{}
	var placed []placedPanel
	for i, r := range raw {
		p, nested, errs := decodePanel(r)
		where := fmt.Sprintf("panels[%d] %q", i, p.title)
		for _, e := range errs {
			if !defaulted(fmt.Sprintf("panels[%d].%s", i, e)) {
				add("%s: %s", where, e)
			}
		}
		for _, q := range append([]decodedPanel{p}, nested...) {
			where := fmt.Sprintf("panels[%d] %q", i, q.title)
			switch {
			case q.id == 0:
				add("%s: no id", where)
			case ids[q.id] != "":
				add("%s: duplicate panel id %d (also %s)", where, q.id, ids[q.id])
			default:
				ids[q.id] = where
			}
			if q.typ != "row" {
				if _, ok := cog.ConfigForPanelcfgVariant(q.typ); !ok {
					add("%s: unknown panel type %q", where, q.typ)
				} else if !types[q.typ] {
					add("%s: panel type %q is not listed in __requires", where, q.typ)
				}
				checkPanelQueries(q, where, add, checkQuery)
			}
		}
		if p.grid == nil {
			add("%s: no gridPos", where)
			continue
		}
		if p.grid.X+p.grid.W > gridColumns {
			add("%s: gridPos x %d + w %d is past the grid's right edge (%d columns)", where, p.grid.X, p.grid.W, gridColumns)
		}
		for _, o := range placed {
			if overlaps(*o.grid, *p.grid) {
				add("%s: gridPos overlaps %s", where, o.where)
			}
		}
		placed = append(placed, placedPanel{where, p.grid})
	}
	return probs
}

// placedPanel is a top-level panel already laid out on the grid.
type placedPanel struct {
	where string
	grid  *dashboard.GridPos
}

// decodedPanel is what dashboardProblems checks of one panel.
type decodedPanel struct {
	typ, title string
	id         uint32
	grid       *dashboard.GridPos
	datasource *common.DataSourceRef
	queries    []*grafanaprom.Dataquery
}

// decodePanel strictly decodes one element of a dashboard's panels: a
// panel, or a row with the panels of a collapsed row in nested. errs are
// the schema's complaints, their paths relative to the element.
//
// The queries are decoded here rather than by Panel.UnmarshalJSONStrict:
// in SDK v0.0.22 a strict query decoder that found nothing wrong still
// returns a non-nil (empty) cog.BuildErrors, and the panel decoder then
// drops the query. PanelOrRowPanel drops whole panels the same way, hence
// one decode per panel.
func decodePanel(raw json.RawMessage) (p decodedPanel, nested []decodedPanel, errs []string) {
	var parts struct {
		Type    string            `json:"type"`
		Targets []json.RawMessage `json:"targets"`
		Panels  []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return p, nil, []string{err.Error()}
	}
	if parts.Type == "row" {
		var row dashboard.RowPanel
		for _, e := range slices.Concat(schemaErrors(row.UnmarshalJSONStrict(raw)), schemaErrors(row.Validate())) {
			if !strings.HasPrefix(e, "panels[") { // decoded one by one below
				errs = append(errs, e)
			}
		}
		p = decodedPanel{typ: row.Type, id: row.Id, grid: row.GridPos}
		if row.Title != nil {
			p.title = *row.Title
		}
		for k, r := range parts.Panels {
			q, _, qerrs := decodePanel(r)
			for _, e := range qerrs {
				errs = append(errs, fmt.Sprintf("panels[%d].%s", k, e))
			}
			nested = append(nested, q)
		}
		return p, nested, errs
	}
	var pn dashboard.Panel
	for _, e := range slices.Concat(schemaErrors(pn.UnmarshalJSONStrict(raw)), schemaErrors(pn.Validate())) {
		if !strings.HasPrefix(e, "targets[") { // decoded one by one below
			errs = append(errs, e)
		}
	}
	p = decodedPanel{typ: pn.Type, grid: pn.GridPos, datasource: pn.Datasource}
	if pn.Title != nil {
		p.title = *pn.Title
	}
	if pn.Id != nil {
		p.id = *pn.Id
	}
	for j, t := range parts.Targets {
		q := &grafanaprom.Dataquery{}
		for _, e := range schemaErrors(q.UnmarshalJSONStrict(t)) {
			errs = append(errs, fmt.Sprintf("targets[%d].%s", j, e))
		}
		p.queries = append(p.queries, q)
	}
	return p, nil, errs
}

// checkPanelQueries checks a panel's data source and queries.
func checkPanelQueries(p decodedPanel, where string, add func(string, ...any), checkQuery func(where, q string)) {
	if p.datasource == nil {
		add("%s: no data source (want the %s variable)", where, dashboardDatasourceUID)
	} else if !ourDatasource(p.datasource) {
		add("%s: data source is not the %s variable", where, dashboardDatasourceUID)
	}
	if len(p.queries) == 0 && p.typ != "text" {
		add("%s: no query", where)
	}
	refIDs := map[string]bool{}
	for j, q := range p.queries {
		where := fmt.Sprintf("%s target %d", where, j)
		if q.Datasource != nil && !ourDatasource(q.Datasource) {
			add("%s: data source is not the %s variable", where, dashboardDatasourceUID)
		}
		ref := ""
		if q.RefId != nil {
			ref = *q.RefId
		}
		if refIDs[ref] {
			add("%s: duplicate refId %q", where, ref)
		}
		refIDs[ref] = true
		checkQuery(where, q.Expr)
	}
}

// ourDatasource reports whether ref is the dashboard's Prometheus data
// source variable.
func ourDatasource(ref *common.DataSourceRef) bool {
	return ref != nil && ref.Type != nil && *ref.Type == dashboardDatasourceType &&
		ref.Uid != nil && (*ref.Uid == dashboardDatasourceUID || *ref.Uid == "$datasource")
}

// overlaps reports whether two grid positions share a cell.
func overlaps(a, b dashboard.GridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// schemaErrors flattens an error of the SDK's strict decoding or
// validation into "path: message" strings. The SDK returns a typed empty
// cog.BuildErrors for "no error", which is not nil.
func schemaErrors(err error) []string {
	if err == nil {
		return nil
	}
	var be cog.BuildErrors
	if !errors.As(err, &be) {
		return []string{err.Error()}
	}
	out := make([]string, 0, len(be))
	for _, e := range be {
		out = append(out, e.Error())
	}
	return out
}
