package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// alertmanagerBin returns the path of a program of Debian's package
// prometheus-alertmanager (amtool, prometheus-alertmanager), skipping the
// test when it is missing unless VMCHECK_REQUIRE_AMTOOL or
// VMCHECK_REQUIRE_PROMTOOL is set (make test sets both).
func alertmanagerBin(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("VMCHECK_REQUIRE_AMTOOL") != "" || os.Getenv("VMCHECK_REQUIRE_PROMTOOL") != "" {
		t.Fatalf("%s not found: apt-get install prometheus-alertmanager", names[0])
	}
	t.Skipf("%s not installed (apt-get install prometheus-alertmanager); set VMCHECK_REQUIRE_AMTOOL=1 to make this a failure", names[0])
	return ""
}

var alertmanagerDir = filepath.Join(deployDir, "alertmanager")

// TestAlertmanagerConfig checks the shipped Alertmanager config with the
// real amtool, and where each kind of alert goes: the receivers each
// label set reaches, exactly ("null" is the receiver that tells nobody).
func TestAlertmanagerConfig(t *testing.T) {
	bin := alertmanagerBin(t, "amtool")
	if out, err := exec.Command(bin, "check-config", filepath.Join(alertmanagerDir, "alertmanager.yml")).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	// The notification templates execute (check-config only parses them),
	// on amtool's example alerts.
	for _, tmpl := range []string{"vmcheck.tenant.subject", "vmcheck.operator.subject", "vmcheck.text"} {
		out, err := exec.Command(bin, "template", "render", "--template.glob="+filepath.Join(alertmanagerDir, "vmcheck.tmpl"),
			`--template.text={{ template "`+tmpl+`" . }}`).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) == 0 {
			t.Errorf("amtool template render %s: %v\n%s", tmpl, err, out)
		}
	}
	tests := []struct {
		name      string
		labels    string
		receivers string
	}{
		{"tenant and operator", "alertname=VMCheckLinkDown notify=both tenant=acme", "tenant-acme,operator"},
		{"tenant only", "alertname=VMCheckLinkDown notify=tenant tenant=acme", "tenant-acme,null"},
		{"tenant by e-mail", "alertname=VMCheckLinkDown notify=tenant tenant=example", "tenant-example,null"},
		{"any other tenant: the default tenant webhook", "alertname=VMCheckLinkDown notify=both tenant=shop", "tenants,operator"},
		{"the receiver the policy names", "alertname=VMCheckLinkDown notify=tenant tenant=acme receiver=acme-oncall", "acme-oncall,null"},
		{"a receiver without a route: the default tenant webhook", "alertname=VMCheckLinkDown notify=both receiver=nobody", "tenants,operator"},
		{"tenant nobody knows: the operator", "alertname=VMCheckLinkDown notify=tenant", "operator"},
		{"operator", "alertname=VMCheckLinkDown notify=operator tenant=acme", "operator"},
		{"none", "alertname=VMCheckLinkDown notify=none tenant=acme", "null"},
		{"no policy (older vmcheck)", "alertname=VMCheckLinkDown code=undiagnosed", "operator"},
		{"network outage", "alertname=VMCheckNetworkOutage node=node4 network=br-a layer=network", "operator"},
		{"node uplink", "alertname=VMCheckNodeExternalUnreachable node=node2", "operator"},
		{"node unchecked", "alertname=VMCheckNodeUnchecked node=node5 reason=scrape_failed", "operator"},
		{"agent, tenant's", "alertname=VMCheckAgentUnavailable notify=tenant tenant=acme severity=info", "tenant-acme,null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + filepath.Join(alertmanagerDir, "alertmanager.yml"),
				"--verify.receivers=" + tt.receivers}, strings.Fields(tt.labels)...)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Errorf("amtool config routes test %s: %v, want receivers %s\n%s", tt.labels, err, tt.receivers, out)
			}
		})
	}
}

// expectedAlerts returns the alerts deploy/prometheus/alerts_test.yml
// expects firing at eval_time at in any of its tests: what promtool
// proves the shipped rules raise for its scenarios.
func expectedAlerts(t *testing.T, at string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				EvalTime  string `yaml:"eval_time"`
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					Labels      map[string]string `yaml:"exp_labels"`
					Annotations map[string]string `yaml:"exp_annotations"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	var out []map[string]any
	for _, tg := range f.Tests {
		for _, rt := range tg.AlertRuleTest {
			if rt.EvalTime != at {
				continue
			}
			for _, a := range rt.ExpAlerts {
				labels := map[string]string{"alertname": rt.Alertname}
				for k, v := range a.Labels {
					labels[k] = v
				}
				out = append(out, map[string]any{"labels": labels, "annotations": a.Annotations})
			}
		}
	}
	return out
}

// startAlertmanager runs the real Alertmanager with the shipped config on
// a loopback port, without clustering, until the test ends, and returns
// its URL once it is ready.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := alertmanagerBin(t, "prometheus-alertmanager", "alertmanager")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(alertmanagerDir, "alertmanager.yml"),
		"--storage.path="+t.TempDir(), "--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager's log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager on %s not ready after 20s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAlertmanagerInhibition sends the alerts the shipped rules raise in
// alerts_test.yml's scenarios (all at 2m) to a real Alertmanager running
// the shipped config, and checks which alerts reach which receivers after
// inhibition: node2's uplink cut (4 VMs on two networks) is one alert, a
// network failing on node4 is one alert (plus the unrelated fault of one of
// its VMs), a tenant's VM cut off reaches its tenant and, per its policy,
// the operator.
func TestAlertmanagerInhibition(t *testing.T) {
	url := startAlertmanager(t)
	alerts := expectedAlerts(t, "2m")
	if len(alerts) < 10 {
		t.Fatalf("alerts_test.yml expects %d alerts at 2m, want the scenarios' (at least 10)", len(alerts))
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
	// What reaches a receiver, per node: alertname, the VM if any, and its
	// receivers ("null" tells nobody).
	want := map[string][]string{
		"node1:9921": {"VMCheckLinkDown u1 → operator,tenant-acme", "VMCheckLinkDown u3 → operator", "VMCheckLinkDown u4 → acme-oncall,null"},
		"node2:9921": {"VMCheckNodeExternalUnreachable → operator"},
		"node3:9921": {"VMCheckLinkDown w1 → operator"},
		"node4:9921": {"VMCheckLinkDown x3 → operator", "VMCheckNetworkOutage → operator"},
	}
	var got map[string][]string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = unmutedAlerts(t, url)
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts that reach receivers after inhibition:\n got %v\nwant %v", got, want)
	}
	if n := len(got["node2:9921"]); n > 2 {
		t.Errorf("node2's uplink cut: %d alerts reach receivers, want at most 2", n)
	}
}

// unmutedAlerts returns the active alerts Alertmanager neither inhibits
// nor silences, by instance, as "alertname [uuid] → receivers", sorted.
func unmutedAlerts(t *testing.T, url string) map[string][]string {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts?active=true&inhibited=false&silenced=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels    map[string]string `json:"labels"`
		Receivers []struct {
			Name string `json:"name"`
		} `json:"receivers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	out := map[string][]string{}
	for _, a := range alerts {
		var rs []string
		for _, r := range a.Receivers {
			rs = append(rs, r.Name)
		}
		slices.Sort(rs)
		s := a.Labels["alertname"]
		if u := a.Labels["uuid"]; u != "" {
			s += " " + u
		}
		inst := a.Labels["instance"]
		out[inst] = append(out[inst], s+" → "+strings.Join(rs, ","))
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}
