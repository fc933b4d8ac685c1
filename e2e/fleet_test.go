//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Two nodes, for real (issue 21): node one is the libvirt lab (lab/lab.sh),
// checked by one `vmcheck serve -c`; node two is plain QEMU (lab/qemu.sh
// node2: four guests of its own, three of them on bridge vcn2br0, a network
// no other VM uses, with its own gateway on the lab router), checked by a
// second `vmcheck serve --qemu-dir`. A real Prometheus scrapes both through
// file_sd with a `node` label and the shipped rules; a real Alertmanager runs
// the shipped config, whose receivers' webhook URLs alone point at the
// test's webhooks. Every notification is recorded with the receiver it was
// posted to.
//
// Settings an operator chooses (the test's, for speed): vmcheck --interval
// 10s --retry-interval 5s (--down-after as shipped, 3); Prometheus
// scrape_interval and evaluation_interval 5s. Rules' for: and
// Alertmanager's group_wait / group_interval are the shipped ones. With
// VMCHECK_FLEET_SHIPPED_TIMING=1 the test runs with the defaults instead
// (vmcheck's, and docs/fleet.md's Prometheus intervals), to measure the
// fault-to-notification time an operator gets; it takes about 6 minutes.
const (
	fleetNet    = "vcn2br0" // node two's network of its own (lab/qemu.sh)
	fleetNetVMs = 3         // n2-web, n2-db, n2-app
)

// fleetTiming is the intervals a run uses, and how long it waits for one
// step.
type fleetTiming struct {
	interval, retry, scrape, eval, wait time.Duration
}

func fleetTimes() fleetTiming {
	if os.Getenv("VMCHECK_FLEET_SHIPPED_TIMING") == "1" {
		return fleetTiming{shippedInterval, shippedRetry, shippedScrape, shippedEval, 6 * time.Minute}
	}
	return fleetTiming{10 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 3 * time.Minute}
}

// The defaults an operator gets (vmcheck serve's; Prometheus' scrape and
// evaluation intervals of docs/fleet.md), for the budget shown beside the
// measured times.
const (
	shippedInterval  = time.Minute
	shippedRetry     = 10 * time.Second
	shippedDownAfter = 3
	shippedScrape    = 30 * time.Second
	shippedEval      = 15 * time.Second
	shippedTimeout   = 10 * time.Second // docs/fleet.md's scrape_timeout
)

// The receivers of the shipped deploy/alertmanager/alertmanager.yml the
// cases name (docs/exporter.md: the root receiver is the operator's;
// tenant "acme" has a route of its own; any other tenant goes to the
// tenants webhook, which dispatches on the tenant label).
const (
	rcvOperator = "operator"
	rcvAcme     = "tenant-acme"
	rcvTenants  = "tenants"
)

// fleetNodeOne and fleetNodeTwo are each node's VMs and alert policies
// (the test's vmcheck config). lab-busybox's tenant is its Nova project.
var (
	fleetNodeOne = []string{"lab-debian", "lab-busybox", "lab-windows"}
	fleetNodeTwo = []string{"n2-web", "n2-db", "n2-app", "n2-solo"}
)

const fleetPolicyOne = `policies:
  - match: lab-debian
    alert: {notify: both, tenant: acme}
  - match: lab-busybox
    alert: {notify: tenant}
  - match: lab-windows
    alert: {notify: operator}
`

const fleetPolicyTwo = `policies:
  - match: n2-solo
    alert: {notify: tenant, tenant: globex}
  - match: n2-app
    alert: {notify: both, tenant: acme, receiver: acme-oncall}
  - match: "n2-*"
    alert: {notify: both, tenant: acme}
`

// fleetExpect is one notification a receiver must get, once firing and
// once resolved: the incident (fleetIncident) and its alert; down is the
// PromQL that finds the incident's VMs down in Prometheus, to time the
// steps from the fault to the notification.
type fleetExpect struct {
	receiver, incident, alert, down string
}

// The cases: lab-debian cut off on node one (host link down: tenant acme
// and, by its policy, the operator); node two's network vcn2br0 cut (one
// operator notification for the network, the three VMs' own alerts
// inhibited, their tenant acme and n2-app's receiver acme-oncall told
// nothing); n2-solo (node two, another
// network) cut off at the same time and then deleted (tenant globex only,
// through the tenants webhook; its alert resolves with its series).
var fleetExpected = []fleetExpect{
	{rcvAcme, "node1/lab-debian", "VMCheckLinkDown", fleetDownQ("node1", "lab-debian", 1)},
	{rcvOperator, "node1/lab-debian", "VMCheckLinkDown", fleetDownQ("node1", "lab-debian", 1)},
	{rcvOperator, "node2/VMCheckNetworkOutage/" + fleetNet, "VMCheckNetworkOutage", fleetDownQ("node2", "n2-web|n2-db|n2-app", 2)},
	{rcvTenants, "node2/n2-solo", "VMCheckLinkDown", fleetDownQ("node2", "n2-solo", 1)},
}

// fleetDownQ finds at least n of the domains (a regexp) of node down.
func fleetDownQ(node, domains string, n int) string {
	return fmt.Sprintf(`count(vmcheck_domain_state{node=%q,domain=~%q,state="down"} == 1) >= %d`, node, domains, n)
}

// fleetAlertQ finds e's alert firing in Prometheus.
func fleetAlertQ(e fleetExpect) string {
	node, rest, _ := strings.Cut(e.incident, "/")
	if e.alert == "VMCheckLinkDown" {
		return fmt.Sprintf(`ALERTS{alertstate="firing",alertname=%q,node=%q,domain=%q}`, e.alert, node, rest)
	}
	return fmt.Sprintf(`ALERTS{alertstate="firing",alertname=%q,node=%q,network=%q}`, e.alert, node, fleetNet)
}

// fleet is the running two-node set-up.
type fleet struct {
	tm        fleetTiming
	sink      *amSink
	serve     map[string]string // node → serve address
	prom, am  string            // addresses
	shipped   shippedFiles
	amConfig  []byte // as run
	receivers []string
}

func TestFleetAlerting(t *testing.T) {
	f := startFleet(t)
	fleetBaseline(t, f)

	t.Log("phase 1: lab-debian's link down (node one), node two's network cut, n2-solo's link down")
	var restored bool
	t.Cleanup(func() {
		if !restored {
			lab(t, "fault", "link-up", "lab-debian")
		}
	})
	faults := map[string]time.Time{}
	lab(t, "fault", "link-down", "lab-debian")
	faults["node1/lab-debian"] = time.Now()
	qemuScript(t, time.Minute, "node2", "cut")
	faults["node2/VMCheckNetworkOutage/"+fleetNet] = time.Now()
	qemuScript(t, time.Minute, "node2", "link-down", "9014")
	faults["node2/n2-solo"] = time.Now()
	fleetWaitNotices(t, f, "firing", faults)
	fleetAssertInhibited(t, f)
	fleetAssertFiring(t, f)

	t.Log("phase 2: recovery, and n2-solo deleted")
	lab(t, "fault", "link-up", "lab-debian")
	restored = true
	faults["node1/lab-debian"] = time.Now()
	qemuScript(t, time.Minute, "node2", "restore")
	faults["node2/VMCheckNetworkOutage/"+fleetNet] = time.Now()
	qemuScript(t, time.Minute, "node2", "delete", "9014")
	faults["node2/n2-solo"] = time.Now()
	fleetAssertDeleted(t, f)
	fleetWaitNotices(t, f, "resolved", faults)
	// Until Prometheus has no alert left: a per-VM alert of vcn2br0 still
	// firing after its network's outage resolved would be sent now.
	expWait(t, "every alert to resolve in Prometheus", f.tm.wait, func() (bool, string) {
		r, err := promQuery(f.prom, `ALERTS{node=~"node1|node2"}`)
		if err != nil {
			return false, err.Error()
		}
		return len(r) == 0, fmt.Sprintf("%d alerts: %v", len(r), r)
	})
	time.Sleep(f.tm.scrape + f.tm.eval)
	fleetAssertCounts(t, f)
}

// startFleet brings node two up and starts both serves, Alertmanager with
// the shipped config and Prometheus with the shipped rules.
func startFleet(t *testing.T) *fleet {
	promBin := expNeed(t, "prometheus", "prometheus")
	amBin := expNeed(t, "prometheus-alertmanager", "prometheus-alertmanager")
	f := &fleet{tm: fleetTimes(), sink: amStartSink(t), serve: map[string]string{}, shipped: findShipped(t)}
	start := time.Now()
	t.Cleanup(func() { qemuScript(t, 2*time.Minute, "node2", "down") })
	out := qemuScript(t, 10*time.Minute, "node2", "up")
	runDir := fleetEnvLine(t, out, "VMCHECK_QEMU_NODE2_RUN")
	t.Logf("lab/qemu.sh node2 up: %v", time.Since(start).Round(time.Second))

	dir := t.TempDir()
	common := []string{"--external", external4, "--interval", f.tm.interval.String(),
		"--retry-interval", f.tm.retry.String(), "--log-level", "warn"}
	one := fleetWrite(t, dir, "node1.yml", fleetPolicyOne)
	s1 := expStartServe(t, append(append([]string{"--config", one}, common...), domainArgs(fleetNodeOne...)...)...)
	f.serve["node1"] = s1.addr
	f.serve["node2"] = expFreeAddr(t)
	two := fleetWrite(t, dir, "node2.yml", fleetPolicyTwo)
	startDaemon(t, "vmcheck serve (node two)", vmcheck, append([]string{"serve", "--qemu-dir", runDir,
		"--pve-config-dir", filepath.Join(filepath.Dir(runDir), "pve"), "--config", two,
		"--web.listen-address", f.serve["node2"]}, common...)...)

	shipped, err := os.ReadFile(f.shipped.am)
	if err != nil {
		t.Fatalf("the shipped Alertmanager config: %v", err)
	}
	f.amConfig, f.receivers, err = amOverlay(shipped, filepath.Dir(f.shipped.am), f.sink.url)
	if err != nil {
		t.Fatalf("%s: %v", f.shipped.am, err)
	}
	for _, r := range []string{rcvOperator, rcvAcme, rcvTenants} {
		if !slices.Contains(f.receivers, r) {
			t.Fatalf("the shipped Alertmanager config has no receiver %q (it has %v)", r, f.receivers)
		}
	}
	f.am = expFreeAddr(t)
	amCfg := fleetWrite(t, dir, "alertmanager.yml", string(f.amConfig))
	am := startDaemon(t, "alertmanager", amBin, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+f.am, "--cluster.listen-address=", "--log.level=debug")
	am.waitReady(t, "http://"+f.am+"/-/ready", time.Minute)

	f.prom = expFreeAddr(t)
	promCfg := fleetPrometheusConfig(t, dir, f)
	prom := startDaemon(t, "prometheus", promBin, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+f.prom, "--storage.tsdb.retention.time=1h")
	prom.waitReady(t, "http://"+f.prom+"/-/ready", time.Minute)
	return f
}

// fleetPrometheusConfig writes Prometheus' config, docs/fleet.md's: the
// shipped rule files, job "vmcheck" with one file_sd target per node and
// its node label, instance relabelled to the node, the test's
// Alertmanager; the intervals are the test's.
func fleetPrometheusConfig(t *testing.T, dir string, f *fleet) string {
	t.Helper()
	type target struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var sd []target
	for _, node := range []string{"node1", "node2"} {
		sd = append(sd, target{[]string{f.serve[node]}, map[string]string{"node": node}})
	}
	b, err := json.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	sdFile := fleetWrite(t, dir, "vmcheck-targets.json", string(b))
	cfg := map[string]any{
		"global": map[string]any{"scrape_interval": f.tm.scrape.String(), "evaluation_interval": f.tm.eval.String(),
			"scrape_timeout": min(f.tm.scrape, shippedTimeout).String()},
		"rule_files": f.shipped.rules,
		"scrape_configs": []any{map[string]any{"job_name": "vmcheck",
			"file_sd_configs": []any{map[string]any{"files": []string{sdFile}}},
			"relabel_configs": []any{
				map[string]any{"source_labels": []string{"node", "__address__"}, "regex": ";(.+?)(?::[0-9]+)?", "target_label": "node"},
				map[string]any{"source_labels": []string{"node"}, "target_label": "instance"},
			}}},
		"alerting": map[string]any{"alertmanagers": []any{map[string]any{
			"static_configs": []any{map[string]any{"targets": []string{f.am}}}}}},
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fleetWrite(t, dir, "prometheus.yml", string(y))
}

func fleetWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fleetEnvLine returns the value of the line "KEY=value" in out.
func fleetEnvLine(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s= in:\n%s", key, out)
	return ""
}

// fleetBaseline waits until both serves report every VM ok, Prometheus
// has them with their alert policy, and nothing fires.
func fleetBaseline(t *testing.T, f *fleet) {
	t.Helper()
	nodes := map[string][]string{"node1": fleetNodeOne, "node2": fleetNodeTwo}
	for node, doms := range nodes {
		expWait(t, node+"'s VMs ok", f.tm.wait, func() (bool, string) {
			b, err := expGet("http://" + f.serve[node] + "/metrics")
			if err != nil {
				return false, err.Error()
			}
			m, err := parseExposition(b)
			if err != nil {
				return false, err.Error()
			}
			var notOK []string
			for _, d := range doms {
				if v, _ := m.value("vmcheck_domain_state", map[string]string{"domain": d, "state": "ok"}); v != 1 {
					notOK = append(notOK, d)
				}
			}
			return len(notOK) == 0, fmt.Sprintf("not ok: %v", notOK)
		})
	}
	// The policies, as Prometheus sees them, per node.
	want := map[string]string{
		"node1/lab-debian": "both/acme/", "node1/lab-windows": "operator//", "node1/lab-busybox": "tenant/lab-project/",
		"node2/n2-web": "both/acme/", "node2/n2-db": "both/acme/", "node2/n2-app": "both/acme/acme-oncall",
		"node2/n2-solo": "tenant/globex/",
	}
	expWait(t, "Prometheus to scrape both nodes' alert policies", time.Minute, func() (bool, string) {
		r, err := promQuery(f.prom, `vmcheck_domain_alert_info`)
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, s := range r {
			got[s.Metric["node"]+"/"+s.Metric["domain"]] = s.Metric["notify"] + "/" + s.Metric["tenant"] + "/" + s.Metric["receiver"]
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("got %v, want %v", got, want)
	})
	if r, err := promQuery(f.prom, `ALERTS{node=~"node1|node2"}`); err != nil || len(r) != 0 {
		t.Fatalf("alerts before any fault (%v): %v", err, r)
	}
}

// fleetWaitNotices waits until every expected receiver got its incident's
// notification in status (firing or resolved) and logs each one's time
// from its fault (or its recovery, in faults), next to its budget.
func fleetWaitNotices(t *testing.T, f *fleet, status string, faults map[string]time.Time) {
	t.Helper()
	first := map[fleetExpect]time.Time{}
	down, firing := map[fleetExpect]time.Time{}, map[fleetExpect]time.Time{}
	expWait(t, "a "+status+" notification for each case", f.tm.wait, func() (bool, string) {
		got, _ := f.sink.notices()
		var missing []string
		for _, e := range fleetExpected {
			if status == "firing" {
				fleetSeen(f, e.down, e, down)
				fleetSeen(f, fleetAlertQ(e), e, firing)
			}
			if n, ok := fleetFind(got, e, status); ok {
				first[e] = n.At
			} else {
				missing = append(missing, e.receiver+" "+e.incident)
			}
		}
		return len(missing) == 0, fmt.Sprintf("missing %v; got %v", missing, got)
	})
	for _, e := range fleetExpected {
		took := first[e].Sub(faults[e.incident])
		if status == "resolved" {
			t.Logf("recovery → %s resolved notification (%s): %.1fs", e.receiver, e.incident, took.Seconds())
			continue
		}
		gw := amGroupWait(t, f.amConfig, e.receiver)
		forDur := ruleFor(t, f.shipped.rules, e.alert)
		b := fleetBudget(f.tm.interval, f.tm.retry, f.tm.scrape, f.tm.eval, forDur, gw)
		d := fleetBudget(shippedInterval, shippedRetry, shippedScrape, shippedEval, forDur, gw)
		t.Logf("fault → %s webhook (%s): %.1fs (down in Prometheus %.1fs, alert firing %.1fs); budget %s; with the defaults %s",
			e.receiver, e.incident, took.Seconds(), down[e].Sub(faults[e.incident]).Seconds(),
			firing[e].Sub(faults[e.incident]).Seconds(), b, d)
	}
}

// fleetSeen records in seen when query q first returns something for e.
func fleetSeen(f *fleet, q string, e fleetExpect, seen map[fleetExpect]time.Time) {
	if _, ok := seen[e]; ok {
		return
	}
	if r, err := promQuery(f.prom, q); err == nil && len(r) > 0 {
		seen[e] = time.Now()
	}
}

// fleetFind returns the first notification to e.receiver in status with
// e's incident among its alerts.
func fleetFind(got []amNotice, e fleetExpect, status string) (amNotice, bool) {
	for _, n := range got {
		if n.Receiver != e.receiver || n.Status != status {
			continue
		}
		for _, a := range n.Alerts {
			if fleetIncident(a) == e.incident && a.Labels["alertname"] == e.alert {
				return n, true
			}
		}
	}
	return amNotice{}, false
}

// fleetBudget is the worst case from a fault to a notification: the fault
// just after a check (interval), the retries that confirm it
// ((down_after-1) × retry_interval, plus the checks' own time, not
// counted), a scrape and a rule evaluation, the rule's for: and the
// route's group_wait.
func fleetBudget(interval, retry, scrape, eval, forDur, groupWait time.Duration) string {
	total := interval + time.Duration(shippedDownAfter-1)*retry + scrape + eval + forDur + groupWait
	return fmt.Sprintf("%s = interval %s + %d×retry %s + scrape %s + evaluation %s + for %s + group_wait %s (+ the checks' run time)",
		total, interval, shippedDownAfter-1, retry, scrape, eval, forDur, groupWait)
}

// amGroupWait is the group_wait of the first route (depth first, in order)
// whose receiver is name, inherited from its parents; Alertmanager's
// default is 30s.
func amGroupWait(t *testing.T, cfg []byte, name string) time.Duration {
	t.Helper()
	var c struct {
		Route amRoute `yaml:"route"`
	}
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if gw, ok := c.Route.groupWait(name, "30s"); ok {
		return gw
	}
	t.Fatalf("no route of the Alertmanager config sends to %s", name)
	return 0
}

// amRoute is the part of an Alertmanager route the budget needs.
type amRoute struct {
	Receiver  string    `yaml:"receiver"`
	GroupWait string    `yaml:"group_wait"`
	Routes    []amRoute `yaml:"routes"`
}

func (r amRoute) groupWait(name, inherited string) (time.Duration, bool) {
	if r.GroupWait != "" {
		inherited = r.GroupWait
	}
	for _, c := range r.Routes {
		if gw, ok := c.groupWait(name, inherited); ok {
			return gw, true
		}
	}
	if r.Receiver != name {
		return 0, false
	}
	d, err := model.ParseDuration(inherited)
	return time.Duration(d), err == nil
}

// ruleFor is the for: of the alerting rule alert in the rule files.
func ruleFor(t *testing.T, files []string, alert string) time.Duration {
	t.Helper()
	for _, p := range files {
		var rf struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
					For   string `yaml:"for"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		b, err := os.ReadFile(p)
		if err == nil {
			err = yaml.Unmarshal(b, &rf)
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert != alert {
					continue
				}
				if r.For == "" {
					return 0
				}
				d, err := model.ParseDuration(r.For)
				if err != nil {
					t.Fatalf("%s: %s for: %v", p, alert, err)
				}
				return time.Duration(d)
			}
		}
	}
	t.Fatalf("no alerting rule %s in %v", alert, files)
	return 0
}

// fleetAssertInhibited checks, in Alertmanager, that the per-VM alerts of
// node two's cut network are there and suppressed by an inhibition.
func fleetAssertInhibited(t *testing.T, f *fleet) {
	t.Helper()
	expWait(t, "the per-VM alerts of "+fleetNet+" to be inhibited in Alertmanager", time.Minute, func() (bool, string) {
		b, err := expGet("http://" + f.am + "/api/v2/alerts?filter=" + url.QueryEscape(`node="node2"`))
		if err != nil {
			return false, err.Error()
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State       string   `json:"state"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := json.Unmarshal(b, &alerts); err != nil {
			return false, err.Error()
		}
		var inhibited, other []string
		for _, a := range alerts {
			if a.Labels["alertname"] != "VMCheckLinkDown" || a.Labels["network"] != fleetNet {
				continue
			}
			if a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0 {
				inhibited = append(inhibited, a.Labels["domain"])
			} else {
				other = append(other, a.Labels["domain"]+":"+a.Status.State)
			}
		}
		sort.Strings(inhibited)
		return len(inhibited) == fleetNetVMs && len(other) == 0, fmt.Sprintf("inhibited %v, not %v", inhibited, other)
	})
}

// fleetAssertFiring checks what the firing notifications say: the VM, its
// node, tenant, cause and remedy, an absolute runbook URL; the network and
// node of the outage.
func fleetAssertFiring(t *testing.T, f *fleet) {
	t.Helper()
	got, _ := f.sink.notices()
	for _, e := range fleetExpected {
		n, _ := fleetFind(got, e, "firing")
		for _, a := range n.Alerts {
			if fleetIncident(a) != e.incident {
				continue
			}
			l, an := a.Labels, a.Annotations
			t.Logf("%s got %s: labels %v; annotations %v", e.receiver, e.incident, l, an)
			ctx := e.receiver + " " + e.incident
			if e.alert == "VMCheckLinkDown" {
				mustContain(t, ctx+" summary", an["summary"], l["domain"])
				// The code is an annotation (it may change within one
				// incident), the layer a label.
				if an["code"] != "host_link_down" || l["layer"] != "host" {
					t.Errorf("%s: code %q layer %q, want host_link_down (the link was set down on the host)", ctx, an["code"], l["layer"])
				}
				// The remedy: libvirt's domif-setlink, QMP's set_link.
				if d := an["description"]; !strings.Contains(d, "domif-setlink") && !strings.Contains(d, "set_link") {
					t.Errorf("%s: description %q names no remedy (domif-setlink, set_link)", ctx, d)
				}
			} else {
				mustContain(t, ctx+" summary", an["summary"], fleetNet)
				mustContain(t, ctx+" summary", an["summary"], "node2")
			}
			if u := an["runbook_url"]; !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				t.Errorf("%s: runbook_url %q is not absolute", ctx, u)
			}
		}
	}
	want := map[string]string{"node1/lab-debian": "acme", "node2/n2-solo": "globex"}
	for inc, tenant := range want {
		for _, rcv := range []string{rcvAcme, rcvTenants} {
			n, ok := fleetFind(got, fleetExpect{receiver: rcv, incident: inc, alert: "VMCheckLinkDown"}, "firing")
			if ok && n.Alerts[0].Labels["tenant"] != tenant {
				t.Errorf("%s got %s with tenant %q, want %q", rcv, inc, n.Alerts[0].Labels["tenant"], tenant)
			}
		}
	}
	if r, err := promQuery(f.prom, `ALERTS{node="node1",domain!="lab-debian"}`); err != nil || len(r) != 0 {
		t.Errorf("node one's other VMs are not quiet (%v): %v", err, r)
	}
}

// fleetAssertDeleted waits until the deleted n2-solo has no series left,
// on node two's serve and in Prometheus, and no alert.
func fleetAssertDeleted(t *testing.T, f *fleet) {
	t.Helper()
	start := time.Now()
	expWait(t, "n2-solo's series to leave node two's /metrics", f.tm.wait, func() (bool, string) {
		b, err := expGet("http://" + f.serve["node2"] + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		return !strings.Contains(string(b), `domain="n2-solo"`), "n2-solo still in /metrics"
	})
	for _, q := range []string{`{node="node2",domain="n2-solo"}`, `ALERTS{domain="n2-solo"}`} {
		expWait(t, q+" to be empty", f.tm.wait, func() (bool, string) {
			r, err := promQuery(f.prom, q)
			if err != nil {
				return false, err.Error()
			}
			return len(r) == 0, fmt.Sprintf("%d series", len(r))
		})
	}
	t.Logf("n2-solo deleted: its series and alert gone from Prometheus after %.1fs", time.Since(start).Seconds())
}

// fleetAssertCounts checks who received what over the whole test: each
// expected receiver exactly one firing and one resolved notification for
// its incident, each posted to its own webhook and about one incident;
// nothing else to anyone.
func fleetAssertCounts(t *testing.T, f *fleet) {
	t.Helper()
	got, bad := f.sink.notices()
	for _, b := range bad {
		t.Errorf("a webhook got a request that is no notification: %s", b)
	}
	count := map[string]int{}
	for _, n := range got {
		t.Logf("notification: %s", n)
		if n.Path != n.Receiver {
			t.Errorf("a notification for receiver %s was posted to %s's webhook", n.Receiver, n.Path)
		}
		incidents := map[string]bool{}
		for _, a := range n.Alerts {
			incidents[fleetIncident(a)+" "+a.Labels["alertname"]] = true
		}
		if len(incidents) != 1 {
			t.Errorf("one notification to %s covers %d incidents: %v", n.Receiver, len(incidents), n)
		}
		for inc := range incidents {
			count[n.Receiver+" "+inc+" "+n.Status]++
		}
	}
	want := map[string]int{}
	for _, e := range fleetExpected {
		for _, st := range []string{"firing", "resolved"} {
			want[e.receiver+" "+e.incident+" "+e.alert+" "+st] = 1
		}
	}
	for k, n := range count {
		if want[k] != n {
			t.Errorf("%d notifications %s, want %d", n, k, want[k])
		}
	}
	for k, n := range want {
		if count[k] == 0 {
			t.Errorf("no notification %s, want %d", k, n)
		}
	}
}
