package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vmcheck/vmcheck/exporter/history"
)

// The dashboard's data source: a variable of type "datasource" that the
// operator picks on import.
const (
	dashboardDatasourceType = "prometheus"
	dashboardDatasourceUID  = "${datasource}"
)

// gridColumns is the width of Grafana's dashboard grid.
const gridColumns = 24

// dashboards are the Grafana dashboards in deploy/grafana: one node's VMs,
// and the fleet.
var dashboards = []string{"vmcheck.json", "vmcheck-fleet.json"}

// TestDashboardValid checks every dashboard of deploy/grafana with
// Grafana's own dashboard model, github.com/grafana/grafana-foundation-sdk/go
// (generated from the schemas Grafana validates dashboards against): see
// dashboardProblems for what it rejects.
func TestDashboardValid(t *testing.T) {
	known := knownSeries(t)
	for _, name := range dashboards {
		b, err := os.ReadFile(filepath.Join(deployDir, "grafana", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range dashboardProblems(b, known) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

// Links between dashboards: /d/UID/slug?var-NAME=VALUE&….
var (
	dashboardLinkRE = regexp.MustCompile(`/d/([A-Za-z0-9_-]+)/[^"]*`)
	linkVariableRE  = regexp.MustCompile(`[?&]var-([A-Za-z0-9_]+)=`)
)

// TestDashboardLinks checks the links between the dashboards of
// deploy/grafana: each names a dashboard shipped beside it, and a variable
// it passes (var-NAME) is one that dashboard defines.
func TestDashboardLinks(t *testing.T) {
	vars := map[string]map[string]bool{} // uid → its variables
	texts := map[string]string{}
	for _, name := range dashboards {
		b, err := os.ReadFile(filepath.Join(deployDir, "grafana", name))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string `json:"uid"`
			Templating struct{ List []templateVariable }
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vars[d.UID] = map[string]bool{}
		for _, v := range d.Templating.List {
			vars[d.UID][v.Name] = true
		}
		texts[name] = string(b)
	}
	links := 0
	for name, text := range texts {
		for _, m := range dashboardLinkRE.FindAllStringSubmatch(text, -1) {
			links++
			if vars[m[1]] == nil {
				t.Errorf("%s links to dashboard %q, which deploy/grafana does not hold", name, m[1])
				continue
			}
			for _, v := range linkVariableRE.FindAllStringSubmatch(m[0], -1) {
				if !vars[m[1]][v[1]] {
					t.Errorf("%s passes var-%s to dashboard %q, which has no such variable", name, v[1], m[1])
				}
			}
		}
	}
	if links == 0 {
		t.Error("no link between the dashboards: the fleet dashboard's nodes should open the node dashboard")
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
		{"no __inputs", func(d map[string]any, _ []any) { delete(d, "__inputs") }, "__inputs: want one Prometheus data source input"},
		{"input of another type", func(d map[string]any, _ []any) {
			d["__inputs"].([]any)[0].(map[string]any)["pluginId"] = "loki"
		}, "__inputs: want one Prometheus data source input"},
		{"input not used", func(d map[string]any, _ []any) {
			v := d["templating"].(map[string]any)["list"].([]any)[0].(map[string]any)
			v["current"] = map[string]any{}
		}, "the datasource variable's current value is not ${DS_PROMETHEUS}"},
		{"undeclared input", func(_ map[string]any, ps []any) {
			panel(ps, 1)["datasource"] = map[string]any{"type": "prometheus", "uid": "${DS_OTHER}"}
		}, "${DS_OTHER} is not declared in __inputs"},
		{"unknown recording rule", func(_ map[string]any, ps []any) {
			target(ps, 1, 0)["expr"] = `sum(instance:vmcheck_nothing:count)`
		}, "instance:vmcheck_nothing:count, which vmcheck does not export"},
		{"not in __requires", func(d map[string]any, _ []any) {
			d["__requires"] = slices.DeleteFunc(d["__requires"].([]any), func(r any) bool {
				return r.(map[string]any)["id"] == "stat"
			})
		}, `panel type "stat" is not listed in __requires`},
	}
	known := knownSeries(t)
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
	NewCollector(history.New(3), "").Describe(ch)
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

// knownSeries returns the names a dashboard may query: the metrics the
// Collector describes and the recording rules of deploy/prometheus.
func knownSeries(t *testing.T) map[string]bool {
	t.Helper()
	known := exportedMetrics()
	files, err := filepath.Glob(filepath.Join(deployDir, "prometheus", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in %s (%v)", filepath.Join(deployDir, "prometheus"), err)
	}
	recordRE := regexp.MustCompile(`(?m)^\s*(?:-\s*)?record:\s*"?([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range recordRE.FindAllStringSubmatch(string(b), -1) {
			known[m[1]] = true
		}
	}
	return known
}

// Patterns in queries.
var (
	// vmcheckMetricRE matches a series name with vmcheck_ in it: a
	// metric, or a recording rule (instance:vmcheck_vms:count).
	vmcheckMetricRE = regexp.MustCompile(`[a-zA-Z0-9_:]*\bvmcheck_[a-zA-Z0-9_:]*`)
	// inputRE matches a reference to an import input (__inputs).
	inputRE    = regexp.MustCompile(`\$\{(DS_[A-Za-z0-9_]+)\}`)
	variableRE = regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)`)
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
//   - a query or template variable naming a vmcheck_ metric or recording
//     rule not in known, or a template variable the dashboard does not
//     define;
//   - __inputs other than one Prometheus data source input, which the
//     datasource variable's current value must be (so that Grafana's
//     import asks for the data source and opens the dashboard on it), or
//     a ${DS_…} reference to an input not declared.
func dashboardProblems(b []byte, known map[string]bool) []string {
	plugins.RegisterDefaultPlugins() // panel and query types, for strict decoding
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }

	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return []string{err.Error()}
	}
	for _, p := range inputProblems(b, top) {
		add("%s", p)
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
				add("%s uses %s, which vmcheck does not export (nor deploy/prometheus record)", where, m)
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

// inputProblems checks a dashboard's import inputs (__inputs): one
// Prometheus data source, the current value of the dashboard's datasource
// variable, and no ${DS_…} reference to an input not declared.
func inputProblems(b []byte, top map[string]json.RawMessage) []string {
	var probs []string
	var inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	}
	if err := json.Unmarshal(top["__inputs"], &inputs); top["__inputs"] != nil && err != nil {
		return []string{fmt.Sprintf("__inputs: %v", err)}
	}
	if len(inputs) != 1 || inputs[0].Type != "datasource" || inputs[0].PluginID != dashboardDatasourceType || inputs[0].Name == "" {
		return []string{fmt.Sprintf("__inputs: want one Prometheus data source input (type datasource, pluginId %s), got %+v", dashboardDatasourceType, inputs)}
	}
	ref := "${" + inputs[0].Name + "}"
	var tmpl struct{ List []templateVariable }
	if err := json.Unmarshal(top["templating"], &tmpl); err != nil {
		return []string{fmt.Sprintf("templating: %v", err)}
	}
	i := slices.IndexFunc(tmpl.List, func(v templateVariable) bool {
		return v.Type == "datasource" && "${"+v.Name+"}" == dashboardDatasourceUID
	})
	if i < 0 || tmpl.List[i].Current.Value != ref {
		probs = append(probs, fmt.Sprintf("the datasource variable's current value is not %s: Grafana's import would not set it", ref))
	}
	for _, m := range inputRE.FindAllStringSubmatch(string(b), -1) {
		if m[1] != inputs[0].Name {
			probs = append(probs, fmt.Sprintf("${%s} is not declared in __inputs", m[1]))
		}
	}
	return probs
}

// templateVariable is what inputProblems reads of a template variable.
type templateVariable struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Current struct {
		Value any `json:"value"`
	} `json:"current"`
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

// fleetVM is a VM of the fleet the fleet dashboard's queries are
// evaluated on: its networks (one NIC in each) and its causes, the first
// the primary one.
type fleetVM struct {
	node, name, tenant, state string
	networks                  []string
	causes                    [][3]string // code, layer, network
}

// fleetVMs: node-a with one VM down of four on its network, node-b with
// every judged VM failing (two on the same uplink cause), node-c
// reachable but without its hypervisor.
var fleetVMs = []fleetVM{
	{"node-a", "a1", "acme", "ok", []string{"br-prod"}, nil},
	{"node-a", "a2", "globex", "down", []string{"br-prod"}, [][3]string{{"host_tap_down", "host", "br-prod"}}},
	{"node-a", "a3", "acme", "ok", []string{"br-prod"}, nil},
	{"node-a", "a4", "globex", "ok", []string{"br-prod", "br-backup"}, nil},
	{"node-b", "b1", "acme", "down", []string{"br-ext"}, [][3]string{{"upstream_unreachable", "network", "br-ext"}}},
	{"node-b", "b2", "globex", "down", []string{"br-ext"}, [][3]string{{"upstream_unreachable", "network", "br-ext"}}},
	{"node-b", "b3", "globex", "degraded", []string{"br-ext", "br-dev"},
		[][3]string{{"packet_loss", "network", "br-ext"}, {"high_latency", "network", "br-ext"}}},
	{"node-b", "b4", "", "unknown", []string{"br-ext"}, nil},
	{"node-b", "b5", "acme", "paused", []string{"br-ext"}, nil},
}

// fleetSeries returns the fleet as promtool input series: what Prometheus
// holds after scraping vmcheck serve on three nodes (job vmcheck, instance
// and node the node's name, docs/fleet.md), and one firing and one pending
// alert. At the evaluation time, 10m, node-a's last round started 30s ago,
// node-b's 60s ago, node-c's 600s ago.
func fleetSeries() []map[string]string {
	var in []map[string]string
	add := func(series, values string) { in = append(in, map[string]string{"series": series, "values": values}) }
	target := func(node string) string { return fmt.Sprintf(`job="vmcheck",instance=%q,node=%q`, node, node) }
	for node, last := range map[string]int{"node-a": 570, "node-b": 540, "node-c": 0} {
		add(`vmcheck_build_info{`+target(node)+`,version="0.2.0",goversion="go1.26.0"}`, "1+0x20")
		add(`vmcheck_libvirt_up{`+target(node)+`}`, fmt.Sprintf("%d+0x20", boolInt(node != "node-c")))
		add(`vmcheck_last_round_timestamp_seconds{`+target(node)+`}`, fmt.Sprintf("%d+0x20", last))
	}
	for i, vm := range fleetVMs {
		dom := fmt.Sprintf(`%s,domain=%q,uuid="u-%s"`, target(vm.node), vm.name, vm.name)
		for _, st := range history.States {
			add(fmt.Sprintf(`vmcheck_domain_state{%s,state=%q}`, dom, st), fmt.Sprintf("%d+0x20", boolInt(string(st) == vm.state)))
		}
		add(fmt.Sprintf(`vmcheck_domain_info{%s,os_family="linux",os_id="debian",os_version="12",nova_instance="",nova_project=%q}`, dom, vm.tenant), "1+0x20")
		add(fmt.Sprintf(`vmcheck_domain_alert_info{%s,notify="both",severity="warning",receiver="",tenant=%q}`, dom, vm.tenant), "1+0x20")
		add(`vmcheck_state_since_timestamp_seconds{`+dom+`}`, fmt.Sprintf("%d+0x20", 100+i))
		mac := func(net string) string {
			return fmt.Sprintf("52:54:00:00:%02x:%02x", i, slices.Index(vm.networks, net))
		}
		for _, net := range vm.networks {
			add(fmt.Sprintf(`vmcheck_nic_info{%s,nic=%q,network=%q}`, dom, mac(net), net), "1+0x20")
		}
		for k, c := range vm.causes {
			add(fmt.Sprintf(`vmcheck_diagnosis{%s,code=%q,layer=%q,nic=%q}`, dom, c[0], c[1], mac(c[2])), "1+0x20")
			if k == 0 {
				add(fmt.Sprintf(`vmcheck_domain_cause{%s,code=%q,layer=%q,nic=%q,network=%q}`, dom, c[0], c[1], mac(c[2]), c[2]), "1+0x20")
			}
		}
	}
	add(`ALERTS{alertname="VMCheckLinkDown",alertstate="firing",`+target("node-b")+`,domain="b1",uuid="u-b1"}`, "1+0x20")
	add(`ALERTS{alertname="VMCheckLinkDown",alertstate="pending",`+target("node-a")+`,domain="a2",uuid="u-a2"}`, "1+0x20")
	return in
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fleetSelection is a choice of the fleet dashboard's variables.
type fleetSelection struct{ node, tenant string }

var (
	fleetAll  = fleetSelection{".*", ".*"}
	fleetAcme = fleetSelection{".*", "acme"}
	fleetB    = fleetSelection{"node-b", ".*"}
)

// fleetWant is what each query of the fleet dashboard ("panel title/refId",
// "variable NAME" for a variable's label_values) returns on fleetSeries, for
// each selection tested. Every query must be here with fleetAll.
var fleetWant = map[fleetSelection]map[string][]string{
	fleetAll: {
		"variable node":           {`{node="node-a"} 1`, `{node="node-b"} 1`, `{node="node-c"} 1`},
		"variable tenant":         {`{tenant="acme"} 4`, `{tenant="globex"} 4`, `{} 1`},
		"Nodes reporting/A":       {`{} 3`},
		"Nodes not checking/A":    {`{} 1`},
		"VMs by state/A":          {`{state="ok"} 3`, `{state="degraded"} 1`, `{state="down"} 3`, `{state="unknown"} 1`, `{state="paused"} 1`},
		"Nodes × states/A":        {`{node="node-a"} 3`, `{node="node-b"} 0`},
		"Nodes × states/B":        {`{node="node-a"} 0`, `{node="node-b"} 1`},
		"Nodes × states/C":        {`{node="node-a"} 1`, `{node="node-b"} 2`},
		"Nodes × states/D":        {`{node="node-a"} 0`, `{node="node-b"} 1`},
		"Nodes × states/E":        {`{node="node-a"} 0`, `{node="node-b"} 1`},
		"Nodes × states/F":        {`{node="node-a"} 30`, `{node="node-b"} 60`, `{node="node-c"} 600`},
		"Nodes × states/G":        {`{node="node-a"} 1`, `{node="node-b"} 1`, `{node="node-c"} 0`},
		"Worst networks/A":        {`{node="node-b",network="br-ext"} 1`, `{node="node-a",network="br-prod"} 0.25`},
		"Top causes/A":            {`{code="upstream_unreachable",layer="network"} 2`, `{code="host_tap_down",layer="host"} 1`, `{code="packet_loss",layer="network"} 1`},
		"Failing VMs by cause/A":  {`{code="upstream_unreachable"} 2`, `{code="host_tap_down"} 1`, `{code="packet_loss"} 1`},
		"Failing VMs/A":           {`{node="node-a",domain="a2",uuid="u-a2",state="down",tenant="globex"} 1`, `{node="node-b",domain="b1",uuid="u-b1",state="down",tenant="acme"} 1`, `{node="node-b",domain="b2",uuid="u-b2",state="down",tenant="globex"} 1`, `{node="node-b",domain="b3",uuid="u-b3",state="degraded",tenant="globex"} 1`, `{node="node-b",domain="b4",uuid="u-b4",state="unknown"} 1`},
		"Failing VMs/B":           {`{node="node-a",domain="a2",uuid="u-a2"} 101000`, `{node="node-b",domain="b1",uuid="u-b1"} 104000`, `{node="node-b",domain="b2",uuid="u-b2"} 105000`, `{node="node-b",domain="b3",uuid="u-b3"} 106000`, `{node="node-b",domain="b4",uuid="u-b4"} 107000`},
		"Failing VMs/C":           {`{node="node-a",domain="a2",uuid="u-a2",code="host_tap_down",layer="host",network="br-prod"} 1`, `{node="node-b",domain="b1",uuid="u-b1",code="upstream_unreachable",layer="network",network="br-ext"} 1`, `{node="node-b",domain="b2",uuid="u-b2",code="upstream_unreachable",layer="network",network="br-ext"} 1`, `{node="node-b",domain="b3",uuid="u-b3",code="packet_loss",layer="network",network="br-ext"} 1`},
		"Firing vmcheck alerts/A": {`ALERTS{alertname="VMCheckLinkDown",alertstate="firing",job="vmcheck",instance="node-b",node="node-b",domain="b1",uuid="u-b1"} 1`},
	},
	fleetAcme: {
		"VMs by state/A":         {`{state="ok"} 2`, `{state="degraded"} 0`, `{state="down"} 1`, `{state="unknown"} 0`, `{state="paused"} 1`},
		"Nodes × states/C":       {`{node="node-a"} 0`, `{node="node-b"} 1`},
		"Top causes/A":           {`{code="upstream_unreachable",layer="network"} 1`},
		"Failing VMs by cause/A": {`{code="upstream_unreachable"} 1`},
		"Failing VMs/A":          {`{node="node-b",domain="b1",uuid="u-b1",state="down",tenant="acme"} 1`},
		// A network is shared: the tenant selector leaves it whole.
		"Worst networks/A": {`{node="node-b",network="br-ext"} 1`, `{node="node-a",network="br-prod"} 0.25`},
	},
	fleetB: {
		"variable tenant":         {`{tenant="acme"} 2`, `{tenant="globex"} 2`, `{} 1`},
		"Nodes reporting/A":       {`{} 1`},
		"Nodes not checking/A":    {`{} 0`},
		"Nodes × states/C":        {`{node="node-b"} 2`},
		"Worst networks/A":        {`{node="node-b",network="br-ext"} 1`},
		"Firing vmcheck alerts/A": {`ALERTS{alertname="VMCheckLinkDown",alertstate="firing",job="vmcheck",instance="node-b",node="node-b",domain="b1",uuid="u-b1"} 1`},
	},
}

// fleetQueries returns every query of the fleet dashboard by the keys of
// fleetWant, its variables replaced for sel. A variable's label_values(M,
// L) becomes count by (L) (M).
func fleetQueries(t *testing.T, sel fleetSelection) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "vmcheck-fleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"` // a string, or {"query": …} for query variables
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("vmcheck-fleet.json: %v", err)
	}
	vars := strings.NewReplacer("$node", sel.node, "$tenant", sel.tenant)
	labelValuesRE := regexp.MustCompile(`^label_values\((.+), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	out := map[string]string{}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValuesRE.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: %q is not label_values(METRIC, LABEL)", v.Name, q.Query)
		}
		out["variable "+v.Name] = vars.Replace(fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out[p.Title+"/"+tg.RefID] = vars.Replace(tg.Expr)
		}
	}
	return out
}

// recordingRules returns the recording rules of deploy/prometheus/alerts.yml
// as a rules file of their own: the alerts are left out, so that the ALERTS
// series of the fleet are fleetSeries' own.
func recordingRules(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	for i := range file.Groups {
		file.Groups[i].Rules = slices.DeleteFunc(file.Groups[i].Rules, func(r map[string]any) bool { return r["record"] == nil })
		n += len(file.Groups[i].Rules)
	}
	if n == 0 {
		t.Fatal("alerts.yml has no recording rules")
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFleetDashboardQueries evaluates every query of the fleet dashboard
// with Prometheus's own engine (promtool test rules) on a fleet of three
// nodes, with the recording rules of deploy/prometheus/alerts.yml, with
// all nodes and tenants selected and with one tenant or one node, and
// compares the results with fleetWant: the panels show what their titles
// say, and the node and tenant selectors select.
func TestFleetDashboardQueries(t *testing.T) {
	bin := promtool(t)
	all := fleetQueries(t, fleetAll)
	for k := range all {
		if _, ok := fleetWant[fleetAll][k]; !ok {
			t.Errorf("fleet dashboard query %q (%s) has no expected result in fleetWant", k, all[k])
		}
	}
	var tests []map[string]any
	for sel, wants := range fleetWant {
		qs := fleetQueries(t, sel)
		for k, want := range wants {
			q, ok := qs[k]
			if !ok {
				t.Errorf("fleetWant names %q, which the fleet dashboard does not have", k)
				continue
			}
			var samples []map[string]any
			for _, w := range want {
				labels, value, _ := strings.Cut(w, "} ")
				v, err := strconv.ParseFloat(value, 64)
				if err != nil {
					t.Fatalf("fleetWant %q: %v", w, err)
				}
				samples = append(samples, map[string]any{"labels": labels + "}", "value": v})
			}
			tests = append(tests, map[string]any{"expr": q, "eval_time": "10m", "exp_samples": samples})
		}
	}
	slices.SortFunc(tests, func(a, b map[string]any) int { return strings.Compare(a["expr"].(string), b["expr"].(string)) })
	dir := t.TempDir()
	rules := filepath.Join(dir, "recording.yml")
	if err := os.WriteFile(rules, recordingRules(t), 0o644); err != nil {
		t.Fatal(err)
	}
	unit, err := json.Marshal(map[string]any{ // JSON is YAML
		"rule_files":          []string{rules},
		"evaluation_interval": "1m",
		"tests":               []any{map[string]any{"interval": "1m", "input_series": fleetSeries(), "promql_expr_test": tests}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "fleet_test.yml")
	if err := os.WriteFile(f, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "test", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules (the fleet dashboard's queries on fleetSeries): %v\n%s", err, out)
	}
}
