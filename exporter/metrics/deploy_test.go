package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/model"
)

// promtool returns Debian's promtool (package prometheus), skipping the
// test when it is missing unless VMCHECK_REQUIRE_PROMTOOL is set.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VMCHECK_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool not found: apt-get install prometheus")
		}
		t.Skip("promtool not installed (apt-get install prometheus); set VMCHECK_REQUIRE_PROMTOOL=1 to make this a failure")
	}
	return p
}

var deployDir = filepath.Join("..", "..", "deploy")

func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	dir := filepath.Join(deployDir, "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboardExprs returns every PromQL expression of the Grafana dashboard,
// with its template variables replaced by match-all values.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "vmcheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("vmcheck.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 10 {
		t.Errorf("vmcheck.json: uid %q, %d panels", dash.UID, len(dash.Panels))
	}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			e := strings.NewReplacer("$instance", ".*", "$domain", ".*", "$__rate_interval", "5m").Replace(tg.Expr)
			out = append(out, e)
		}
	}
	return out
}

func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(e)
		b.WriteString("      - record: dashboard:expr" + strconv.Itoa(i) + "\n        expr: " + string(q) + "\n")
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, out)
	}
}

// TestDeployedMetricNames keeps the alerts, the dashboard and the docs in
// step with the collector: every vmcheck_ name they use must exist, and
// the docs must describe every metric.
func TestDeployedMetricNames(t *testing.T) {
	ch := make(chan *prometheus.Desc, 32)
	NewCollector(history.New(3), "").Describe(ch)
	close(ch)
	known := map[string]bool{}
	nameRE := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		known[nameRE.FindStringSubmatch(d.String())[1]] = true
	}
	useRE := regexp.MustCompile(`vmcheck_[a-z_]+`)
	alerts, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Recording rules' names (level:vmcheck_…:operation) are the rules'
	// own, not metrics; so is the runbook's external label.
	alerts = regexp.MustCompile(`[a-z_]+:vmcheck_[a-z_]+:[a-z_]+`).ReplaceAll(alerts, nil)
	for _, src := range []struct {
		name string
		text string
	}{
		{"alerts.yml", string(alerts)},
		{"vmcheck.json", strings.Join(dashboardExprs(t), "\n")},
	} {
		for _, m := range useRE.FindAllString(src.text, -1) {
			if !known[m] && m != "vmcheck_prom" && m != "vmcheck_runbook_base" {
				t.Errorf("%s uses %s, which vmcheck does not export", src.name, m)
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "exporter.md"))
	if err != nil {
		t.Fatal(err)
	}
	for m := range known {
		if !strings.Contains(string(doc), "`"+m+"`") {
			t.Errorf("docs/exporter.md does not document %s", m)
		}
	}
}

// TestAlertsExplainEveryCode: the per-VM alert's summary and description
// say in words what each diagnosis code means and what to do, so every
// code of the closed set has its branch in alerts.yml (and its runbook
// section in docs/diagnosis.md).
func TestAlertsExplainEveryCode(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "diagnosis.md"))
	if err != nil {
		t.Fatal(err)
	}
	for code := range model.Codes {
		if n := strings.Count(string(b), `eq $code "`+string(code)+`"`); n < 2 {
			t.Errorf("alerts.yml: code %s has %d branches in VMCheckLinkDown's templates, want 2 (summary, description)", code, n)
		}
		if !strings.Contains(string(doc), "### `"+string(code)+"`") {
			t.Errorf("docs/diagnosis.md has no section for %s, the anchor of its runbook_url", code)
		}
	}
}
