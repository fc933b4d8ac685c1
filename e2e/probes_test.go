//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// The probe methods of a VM's policy (docs/probes.md) against the lab's
// path faults (lab/lab.sh: mtu-blackhole, dns-stop, tcp-drop, tcp-reject,
// loss): each cause by its exact code, with what the probe measured, on
// the libvirt lab (lab-debian) and on the plain-QEMU lab (qemu-healthy, the
// same "debian" role: iputils ping, glibc getent, curl). The faults are
// network-wide, so they act on both.
//
// The e2e package has a function named probe: package probe is not
// imported; the checker's codes and the JSON contract are what is asserted.

const (
	pmWebURL  = "http://203.0.113.10/"
	pmWebTCP  = "203.0.113.10:80"
	pmWebName = "www.example.test"
	// pmDebianUUID is lab-debian's UUID (lab/lab.sh's guest table).
	pmDebianUUID = "5c0c0000-0000-4000-8000-000000000011"
)

// Policies: each a list of YAML flow mappings, one probe each.
var (
	// pmServices are the methods beyond icmp, the icmp probe left at its
	// default (one echo request, no threshold). Their timeout is written
	// out (5s, the default) so the cases do not depend on it.
	pmServices = []string{
		`{method: mtu}`,
		`{method: dns, name: ` + pmWebName + `, expect: 203.0.113.10, timeout: 5s}`,
		`{method: tcp, target: "` + pmWebTCP + `", timeout: 5s}`,
		`{method: http, url: "` + pmWebURL + `", timeout: 5s}`,
	}
	// pmLoss is 20 echo requests, at most 20 % of them lost.
	pmLoss = []string{`{method: icmp, count: 20, max_loss: 0.2}`}
	// pmFull is the whole policy of docs/probes.md's example.
	pmFull = append(slices.Clone(pmLoss), pmServices...)
)

// pmConfig writes a config file: the lab's external target and one policy
// rule per guest (name → probes; nil probes: no rule, the default policy).
func pmConfig(t *testing.T, rules map[string][]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "external: [%s]\n", external4)
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	slices.Sort(names)
	first := true
	for _, n := range names {
		if rules[n] == nil {
			continue
		}
		if first {
			b.WriteString("policies:\n")
			first = false
		}
		fmt.Fprintf(&b, "  - match: %q\n    probes:\n", n)
		for _, p := range rules[n] {
			fmt.Fprintf(&b, "      - %s\n", p)
		}
	}
	f := filepath.Join(t.TempDir(), "vmcheck.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// pmBackend checks one guest of one backend with a config file.
type pmBackend struct {
	dom   string
	check func(t *testing.T, cfg string, doms ...string) run
}

// pmArgs are the check flags every probe test uses.
func pmArgs(cfg string, doms []string) []string {
	args := []string{"--config", cfg, "--ping-timeout", "1s", "--timeout", "30s"}
	for _, d := range doms {
		args = append(args, "--domain", d)
	}
	return args
}

// pmLibvirt is lab-debian on the libvirt lab.
func pmLibvirt() pmBackend {
	return pmBackend{dom: "lab-debian", check: func(t *testing.T, cfg string, doms ...string) run {
		t.Helper()
		return check(t, roundCap, pmArgs(cfg, doms)...)
	}}
}

// pmQEMU is qemu-healthy on the plain-QEMU lab.
func pmQEMU(runDir, pveDir string) pmBackend {
	return pmBackend{dom: "qemu-healthy", check: func(t *testing.T, cfg string, doms ...string) run {
		t.Helper()
		return qemuCheck(t, runDir, pveDir, pmArgs(cfg, doms)...)
	}}
}

// pmCheck checks b's guest with its policy and returns its result, with
// the exit code the state implies asserted.
func pmCheck(t *testing.T, b pmBackend, cfg string) model.Result {
	t.Helper()
	r := b.check(t, cfg, b.dom)
	d := domain(t, r, b.dom)
	want := output.ExitOK
	if d.State == model.StateDegraded || d.State == model.StateDown {
		want = output.ExitProbeFailed
	}
	if r.code != want {
		t.Errorf("%s: exit %d with state %s, want %d", b.dom, r.code, d.State, want)
	}
	return d
}

// pmCodes are d's diagnosis codes, sorted, each once.
func pmCodes(d model.Result) []model.Code {
	var out []model.Code
	for _, g := range d.Diagnosis {
		if !slices.Contains(out, g.Code) {
			out = append(out, g.Code)
		}
	}
	slices.Sort(out)
	return out
}

// pmService returns d's service probe of method (the first).
func pmService(t *testing.T, d model.Result, method string) model.ProbeResult {
	t.Helper()
	for _, p := range d.Probes {
		if p.Kind == model.ProbeService && p.Method == method {
			return p
		}
	}
	t.Fatalf("%s: no service probe of method %s in %s", d.Name, method, pmProbesJSON(d))
	return model.ProbeResult{}
}

// pmDiag returns d's diagnoses of code.
func pmDiag(d model.Result, code model.Code) []model.Diagnosis {
	var out []model.Diagnosis
	for _, g := range d.Diagnosis {
		if g.Code == code {
			out = append(out, g)
		}
	}
	return out
}

func pmProbesJSON(d model.Result) string {
	b, _ := json.Marshal(d.Probes)
	return string(b)
}

func pmLog(t *testing.T, d model.Result) {
	t.Helper()
	t.Logf("%s: state %s in %.1fs, reason %q, diagnosis %s, probes %s", d.Name, d.State, d.Duration, d.Reason, diagJSON(d), pmProbesJSON(d))
}

// pmAssertOK checks a guest that must be ok, every probe ok and no
// diagnosis.
func pmAssertOK(t *testing.T, d model.Result, when string) {
	t.Helper()
	if d.State != model.StateOK || len(d.Diagnosis) != 0 {
		t.Errorf("%s %s: state %s (reason %q), diagnosis %s; want ok with none", d.Name, when, d.State, d.Reason, diagJSON(d))
	}
	for _, p := range d.Probes {
		if p.Status != model.ProbePassed || !p.OK {
			t.Errorf("%s %s: %s/%s probe %s: status %s (%s), want ok", d.Name, when, p.Kind, p.Method, p.Target, p.Status, p.Error)
		}
	}
}

// pmCase is one cause: the lab fault that makes it, the policy that sees
// it, the state and exact diagnosis codes it must give, and what its
// probes must have measured.
type pmCase struct {
	name        string
	fault, undo []string // lab.sh fault arguments (none: the lab as it is)
	probes      []string
	state       model.State
	codes       []model.Code // exactly these codes, sorted
	// attempts is how many checks may be needed to see the cause (a
	// random fault); 0 means 1.
	attempts int
	assert   func(t *testing.T, d model.Result)
}

var pmCases = []pmCase{
	{name: "healthy", probes: pmFull, state: model.StateOK, assert: pmAssertHealthyFull},
	{name: "packet_loss", fault: []string{"loss"}, undo: []string{"loss-restore"}, probes: pmLoss,
		state: model.StateDegraded, codes: []model.Code{model.CodePacketLoss}, attempts: 3, assert: pmAssertLoss},
	{name: "path_mtu_blackhole", fault: []string{"mtu-blackhole"}, undo: []string{"mtu-restore"}, probes: pmServices,
		state: model.StateDegraded, codes: []model.Code{model.CodePathMTUBlackhole}, assert: pmAssertMTU},
	{name: "dns_failure", fault: []string{"dns-stop"}, undo: []string{"dns-start"}, probes: pmServices,
		state: model.StateDegraded, codes: []model.Code{model.CodeDNSFailure}, assert: pmAssertDNSDown},
	{name: "dns_failure/expect", probes: []string{`{method: dns, name: ` + pmWebName + `, expect: 192.0.2.99, timeout: 5s}`},
		state: model.StateDegraded, codes: []model.Code{model.CodeDNSFailure}, assert: pmAssertDNSExpect},
	{name: "tcp_filtered", fault: []string{"tcp-drop"}, undo: []string{"tcp-allow"}, probes: pmServices,
		state: model.StateDegraded, codes: []model.Code{model.CodeTCPFiltered}, assert: pmAssertTCP(model.CodeTCPFiltered, "answers ping")},
	{name: "tcp_refused", fault: []string{"tcp-reject"}, undo: []string{"tcp-allow"}, probes: pmServices,
		state: model.StateDegraded, codes: []model.Code{model.CodeTCPRefused}, assert: pmAssertTCP(model.CodeTCPRefused, "refused")},
	{name: "http_failure", probes: []string{`{method: http, url: "` + pmWebURL + `missing", timeout: 5s}`},
		state: model.StateDegraded, codes: []model.Code{model.CodeHTTPFailure}, assert: pmAssertHTTP404},
	// The lab's round trips under TCG are about 1 ms to the gateway and to
	// 203.0.113.10 (measured: 0.7–1.3 ms), so an icmp max_rtt of 1 ms — the
	// smallest a policy may name — is crossed only now and then; a TCP
	// connect (25–70 ms) and an HTTP GET (50–170 ms) from inside the guest
	// always cross it. The tcp and http probes make the cause; each icmp
	// probe must be judged by its own average.
	{name: "high_latency", probes: []string{`{method: icmp, max_rtt: 1ms}`, `{method: tcp, target: "` + pmWebTCP + `", max_rtt: 1ms, timeout: 5s}`,
		`{method: http, url: "` + pmWebURL + `", max_rtt: 1ms, timeout: 5s}`},
		state: model.StateDegraded, codes: []model.Code{model.CodeHighLatency}, assert: pmAssertLatency},
}

// pmRun runs case c on backend b: the fault (undone at the end even on
// failure), the check and its assertions, then the undo and a check that
// must be ok again with no diagnosis.
func pmRun(t *testing.T, b pmBackend, c pmCase) {
	t.Helper()
	cfg := pmConfig(t, map[string][]string{b.dom: c.probes})
	if len(c.fault) > 0 {
		start := time.Now()
		lab(t, append([]string{"fault"}, c.fault...)...)
		t.Logf("lab fault %s: %v", strings.Join(c.fault, " "), time.Since(start).Round(10*time.Millisecond))
		t.Cleanup(func() { lab(t, append([]string{"fault"}, c.undo...)...) })
	}
	var d model.Result
	for attempt := 1; attempt <= max(c.attempts, 1); attempt++ {
		d = pmCheck(t, b, cfg)
		pmLog(t, d)
		if len(c.codes) == 0 || slices.Contains(pmCodes(d), c.codes[0]) {
			break
		}
		if attempt < c.attempts {
			t.Logf("attempt %d: no %s yet (a random fault); checking again", attempt, c.codes[0])
		}
	}
	if d.State != c.state {
		t.Errorf("%s: state %s (reason %q), want %s", d.Name, d.State, d.Reason, c.state)
	}
	if got := pmCodes(d); !slices.Equal(got, c.codes) {
		t.Errorf("%s: diagnosis codes %v, want exactly %v: %s", d.Name, got, c.codes, diagJSON(d))
	}
	for _, g := range d.Diagnosis {
		if slices.Contains(c.codes, g.Code) {
			if g.Layer != model.LayerNetwork || model.Codes[g.Code] != model.LayerNetwork {
				t.Errorf("%s: %s layer %q (model.Codes: %q), want network", d.Name, g.Code, g.Layer, model.Codes[g.Code])
			}
			if strings.TrimSpace(g.Detail) == "" {
				t.Errorf("%s: %s without a detail", d.Name, g.Code)
			}
		}
	}
	if c.state == model.StateDegraded && !strings.Contains(d.Reason, ":") {
		t.Errorf("%s: reason %q does not say which probe failed", d.Name, d.Reason)
	}
	if c.assert != nil {
		c.assert(t, d)
	}
	if len(c.fault) == 0 {
		return
	}
	start := time.Now()
	lab(t, append([]string{"fault"}, c.undo...)...)
	t.Logf("lab fault %s: %v", strings.Join(c.undo, " "), time.Since(start).Round(10*time.Millisecond))
	after := pmCheck(t, b, cfg)
	t.Logf("%s after the undo: state %s in %.1fs", after.Name, after.State, after.Duration)
	pmAssertOK(t, after, "after "+strings.Join(c.undo, " "))
}

func pmAssertHealthyFull(t *testing.T, d model.Result) {
	t.Helper()
	pmAssertOK(t, d, "in a healthy lab")
	methods := map[string]bool{}
	for _, p := range d.Probes {
		switch p.Kind {
		case model.ProbeService:
			methods[p.Method] = true
		case model.ProbeExternal, model.ProbeGateway:
			if p.Method != "icmp" || p.Sent != 20 || p.Received != 20 || p.Loss == nil || *p.Loss != 0 {
				t.Errorf("%s: %s probe %s: method %q, sent %d, received %d, loss %v; want icmp 20/20, 0", d.Name, p.Kind, p.Target, p.Method, p.Sent, p.Received, p.Loss)
			}
		}
	}
	for _, m := range []string{"mtu", "dns", "tcp", "http"} {
		if !methods[m] {
			t.Errorf("%s: no service probe of method %s: %s", d.Name, m, pmProbesJSON(d))
		}
	}
	if len(methods) != 4 {
		t.Errorf("%s: service probes of methods %v, want mtu, dns, tcp, http", d.Name, methods)
	}
	if m := pmService(t, d, "mtu"); m.NICMTU != 1500 || m.PathMTU != 1500 || m.Target != external4 {
		t.Errorf("%s: mtu probe %s: nic_mtu %d, path_mtu %d; want %s, 1500, 1500", d.Name, m.Target, m.NICMTU, m.PathMTU, external4)
	}
	if dns := pmService(t, d, "dns"); !slices.Contains(dns.Addresses, "203.0.113.10") || dns.Target != pmWebName {
		t.Errorf("%s: dns probe %s: addresses %v, want them to contain 203.0.113.10", d.Name, dns.Target, dns.Addresses)
	}
	if tcp := pmService(t, d, "tcp"); tcp.Target != pmWebTCP || tcp.RTT <= 0 {
		t.Errorf("%s: tcp probe %s: connect time %v, want one", d.Name, tcp.Target, tcp.RTT)
	}
	if h := pmService(t, d, "http"); h.HTTPStatus != 200 || h.Target != pmWebURL || h.RTT <= 0 {
		t.Errorf("%s: http probe %s: http_status %d, time %v; want 200 and a time", d.Name, h.Target, h.HTTPStatus, h.RTT)
	}
}

func pmAssertLoss(t *testing.T, d model.Result) {
	t.Helper()
	ext := probe(t, d, model.ProbeExternal, external4)
	if ext.Status != model.ProbeDegraded || !ext.OK || ext.Method != "icmp" {
		t.Errorf("external probe: status %s, ok %v, method %q; want degraded, ok, icmp", ext.Status, ext.OK, ext.Method)
	}
	if ext.Sent != 20 || ext.Loss == nil || *ext.Loss <= 0.2 || ext.Received >= 20 || ext.Received < 1 {
		t.Errorf("external probe: sent %d, received %d, loss_ratio %v; want 20 sent and a loss over 0.2", ext.Sent, ext.Received, ext.Loss)
	} else if want := 1 - float64(ext.Received)/20; math.Abs(*ext.Loss-want) > 1e-9 {
		t.Errorf("external probe: loss_ratio %v, but %d of 20 received is %v", *ext.Loss, ext.Received, want)
	}
	mustContain(t, "external probe error", ext.Error, "over max_loss 20%")
	gw := probe(t, d, model.ProbeGateway, gw4)
	if gw.Status != model.ProbePassed || gw.Sent != 20 || gw.Received != 20 || gw.Loss == nil || *gw.Loss != 0 {
		t.Errorf("gateway probe: status %s, sent %d, received %d, loss %v; want ok 20/20 (the gateway is not behind the fault)", gw.Status, gw.Sent, gw.Received, gw.Loss)
	}
	for _, g := range pmDiag(d, model.CodePacketLoss) {
		mustContain(t, "packet_loss detail", g.Detail, external4)
		mustContain(t, "packet_loss detail", g.Detail, "of 20 echo requests unanswered")
	}
}

func pmAssertMTU(t *testing.T, d model.Result) {
	t.Helper()
	m := pmService(t, d, "mtu")
	if m.Status != model.ProbeFailed || m.NICMTU != 1500 || m.PathMTU != 1280 || m.Target != external4 {
		t.Errorf("mtu probe %s: status %s, nic_mtu %d, path_mtu %d; want failed, 1500, 1280", m.Target, m.Status, m.NICMTU, m.PathMTU)
	}
	// The plain pings pass: only full-size packets vanish.
	for _, p := range d.Probes {
		if p.Method != "mtu" && p.Status != model.ProbePassed {
			t.Errorf("%s/%s probe %s: status %s (%s), want ok (only the path MTU is broken)", p.Kind, p.Method, p.Target, p.Status, p.Error)
		}
	}
	for _, g := range pmDiag(d, model.CodePathMTUBlackhole) {
		mustContain(t, "path_mtu_blackhole detail", g.Detail, "is 1280")
		mustContain(t, "path_mtu_blackhole detail", g.Detail, "reach the gateway")
	}
}

func pmAssertDNSDown(t *testing.T, d model.Result) {
	t.Helper()
	dns := pmService(t, d, "dns")
	if dns.Status != model.ProbeFailed || len(dns.Addresses) != 0 {
		t.Errorf("dns probe: status %s, addresses %v; want failed, none", dns.Status, dns.Addresses)
	}
	mustContain(t, "dns probe error", dns.Error, "did not resolve")
	for _, m := range []string{"mtu", "tcp", "http"} {
		if p := pmService(t, d, m); p.Status != model.ProbePassed {
			t.Errorf("%s probe: status %s (%s), want ok (they name no host)", m, p.Status, p.Error)
		}
	}
	for _, g := range pmDiag(d, model.CodeDNSFailure) {
		mustContain(t, "dns_failure detail", g.Detail, pmWebName)
	}
}

func pmAssertDNSExpect(t *testing.T, d model.Result) {
	t.Helper()
	dns := pmService(t, d, "dns")
	if dns.Status != model.ProbeFailed || !slices.Contains(dns.Addresses, "203.0.113.10") {
		t.Errorf("dns probe: status %s, addresses %v; want failed, with what it did resolve to (203.0.113.10)", dns.Status, dns.Addresses)
	}
	for _, g := range pmDiag(d, model.CodeDNSFailure) {
		mustContain(t, "dns_failure detail", g.Detail, "not the expected 192.0.2.99")
	}
}

func pmAssertTCP(code model.Code, says string) func(t *testing.T, d model.Result) {
	return func(t *testing.T, d model.Result) {
		t.Helper()
		// The http probe's URL is on the same port: it fails the same way.
		for _, m := range []string{"tcp", "http"} {
			p := pmService(t, d, m)
			if p.Status != model.ProbeFailed || p.HTTPStatus != 0 {
				t.Errorf("%s probe: status %s, http_status %d; want failed, none", m, p.Status, p.HTTPStatus)
			}
			mustContain(t, m+" probe error", p.Error, says)
		}
		for _, m := range []string{"mtu", "dns"} {
			if p := pmService(t, d, m); p.Status != model.ProbePassed {
				t.Errorf("%s probe: status %s (%s), want ok", m, p.Status, p.Error)
			}
		}
		var targets []string
		for _, g := range pmDiag(d, code) {
			targets = append(targets, g.Detail)
		}
		all := strings.Join(targets, "\n")
		mustContain(t, string(code)+" details", all, pmWebTCP)
		mustContain(t, string(code)+" details", all, pmWebURL)
	}
}

func pmAssertHTTP404(t *testing.T, d model.Result) {
	t.Helper()
	h := pmService(t, d, "http")
	if h.Status != model.ProbeFailed || h.HTTPStatus != 404 {
		t.Errorf("http probe: status %s, http_status %d; want failed, 404", h.Status, h.HTTPStatus)
	}
	mustContain(t, "http probe error", h.Error, "status 404, expected 2xx")
	for _, g := range pmDiag(d, model.CodeHTTPFailure) {
		mustContain(t, "http_failure detail", g.Detail, pmWebURL+"missing")
	}
}

func pmAssertLatency(t *testing.T, d model.Result) {
	t.Helper()
	details := ""
	for _, g := range pmDiag(d, model.CodeHighLatency) {
		details += g.Detail + "\n"
	}
	for _, m := range []string{"tcp", "http"} {
		p := pmService(t, d, m)
		if p.Status != model.ProbeDegraded || !p.OK || p.RTT <= 0.001 {
			t.Errorf("%s probe: status %s, ok %v, time %vs; want degraded, ok, over 1ms", m, p.Status, p.OK, p.RTT)
		}
		mustContain(t, m+" probe error", p.Error, "over max_rtt 1ms")
		mustContain(t, "high_latency details", details, p.Target)
	}
	if h := pmService(t, d, "http"); h.HTTPStatus != 200 {
		t.Errorf("http probe: http_status %d, want 200 (slow, not failing)", h.HTTPStatus)
	}
	// Each icmp probe by its own measure: over 1 ms degraded (and named),
	// under it ok.
	for _, p := range d.Probes {
		if p.Method != "icmp" {
			continue
		}
		switch {
		case p.RTT > 0.0010005:
			if p.Status != model.ProbeDegraded {
				t.Errorf("%s probe %s: average round trip %vs over max_rtt 1ms, status %s; want degraded", p.Kind, p.Target, p.RTT, p.Status)
			}
			mustContain(t, "high_latency details", details, p.Target+": average round trip")
		case p.RTT < 0.0009995:
			if p.Status != model.ProbePassed {
				t.Errorf("%s probe %s: average round trip %vs under max_rtt 1ms, status %s (%s); want ok", p.Kind, p.Target, p.RTT, p.Status, p.Error)
			}
		}
		t.Logf("%s probe %s: %.3f ms, %s", p.Kind, p.Target, p.RTT*1000, p.Status)
	}
}

// TestProbes proves each cause of the probe methods by its exact code on
// the libvirt lab's lab-debian, each from a real lab fault (or, for a
// wrong answer, a wrong status and a slow path, from the policy), then
// that the guest is ok again once the fault is undone.
func TestProbes(t *testing.T) {
	b := pmLibvirt()
	for _, c := range pmCases {
		t.Run(c.name, func(t *testing.T) { pmRun(t, b, c) })
	}

	// lab-busybox has neither getent nor curl, and its busybox ping has no
	// -M: those probes are unavailable, naming what is missing; never a
	// verdict on the network.
	t.Run("unavailable", func(t *testing.T) {
		const dom = "lab-busybox"
		cfg := pmConfig(t, map[string][]string{dom: pmServices})
		d := pmCheck(t, pmBackend{dom: dom, check: b.check}, cfg)
		pmLog(t, d)
		if d.State != model.StateOK || len(d.Diagnosis) != 0 {
			t.Errorf("%s: state %s, diagnosis %s; want ok with none (a missing tool says nothing of the network)", dom, d.State, diagJSON(d))
		}
		for m, tool := range map[string]string{"mtu": "-M", "dns": "getent not found", "tcp": "curl not found", "http": "curl not found"} {
			p := pmService(t, d, m)
			if p.Status != model.ProbeUnavailable || p.OK {
				t.Errorf("%s probe: status %s, ok %v; want unavailable", m, p.Status, p.OK)
			}
			mustContain(t, m+" probe error", p.Error, tool)
			mustContain(t, "reason", d.Reason, m+" "+p.Target+" unavailable")
		}
		for _, p := range d.Probes {
			if p.Kind != model.ProbeService && p.Status != model.ProbePassed {
				t.Errorf("%s probe %s: status %s, want ok", p.Kind, p.Target, p.Status)
			}
		}
	})

	// Without probes in its policy a VM gets the default echo, unchanged:
	// the path faults the methods see leave it ok, and a cut uplink is
	// upstream_unreachable, none of the methods' codes.
	t.Run("default policy", func(t *testing.T) {
		cfg := pmConfig(t, map[string][]string{b.dom: nil})
		faults := [][2]string{{"mtu-blackhole", "mtu-restore"}, {"dns-stop", "dns-start"}, {"tcp-reject", "tcp-allow"}}
		for _, f := range faults {
			lab(t, "fault", f[0])
			t.Cleanup(func() { lab(t, "fault", f[1]) })
		}
		d := pmCheck(t, b, cfg)
		pmLog(t, d)
		pmAssertOK(t, d, "under mtu-blackhole, dns-stop and tcp-reject with the default policy")
		for _, p := range d.Probes {
			if p.Kind == model.ProbeService || (p.Method == "icmp" && p.Sent > 1) {
				t.Errorf("the default policy ran %s/%s probe %s (sent %d): want one echo request per target only", p.Kind, p.Method, p.Target, p.Sent)
			}
		}
		for _, f := range faults {
			lab(t, "fault", f[1])
		}
		lab(t, "fault", "upstream-cut")
		t.Cleanup(func() { lab(t, "fault", "upstream-restore") })
		d = pmCheck(t, b, cfg)
		pmLog(t, d)
		if got := pmCodes(d); !slices.Equal(got, []model.Code{model.CodeUpstreamUnreachable}) {
			t.Errorf("under upstream-cut with the default policy: codes %v, want exactly [upstream_unreachable]: %s", got, diagJSON(d))
		}
		for _, c := range []model.Code{model.CodePacketLoss, model.CodeHighLatency, model.CodePathMTUBlackhole,
			model.CodeDNSFailure, model.CodeTCPRefused, model.CodeTCPFiltered, model.CodeHTTPFailure} {
			if len(pmDiag(d, c)) > 0 {
				t.Errorf("the default policy named %s: %s", c, diagJSON(d))
			}
		}
		lab(t, "fault", "upstream-restore")
		pmAssertOK(t, pmCheck(t, b, cfg), "after upstream-restore")
	})
}

// TestProbesQEMU proves the causes on the plain-QEMU backend (vmcheck
// check --qemu-dir), its guest matched by the name the backend gives it;
// the lab is brought up once for every case.
func TestProbesQEMU(t *testing.T) {
	runDir, pveDir := qemuLab(t)
	b := pmQEMU(runDir, pveDir)
	for _, c := range pmCases {
		switch c.name {
		case "healthy", "path_mtu_blackhole", "dns_failure", "tcp_filtered", "tcp_refused", "http_failure", "high_latency", "packet_loss":
			t.Run(c.name, func(t *testing.T) { pmRun(t, b, c) })
		}
	}
}

// TestProbesCronServe checks that cron and serve honour a VM's policy:
// under dns-stop the textfile and /metrics carry vmcheck_diagnosis with
// code dns_failure and the service probes' series, and serve's series go
// once the resolver is back.
func TestProbesCronServe(t *testing.T) {
	probes := append([]string{`{method: icmp, count: 3}`}, pmServices...)
	cfg := pmConfig(t, map[string][]string{"lab-debian": probes})
	lab(t, "fault", "dns-stop")
	t.Cleanup(func() { lab(t, "fault", "dns-start") })
	debian := map[string]string{"domain": "lab-debian", "uuid": pmDebianUUID}
	lbl := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range debian {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	// assertMetrics checks one exposition of lab-debian under dns-stop.
	assertMetrics := func(t *testing.T, where string, m expMetrics) {
		t.Helper()
		if v, ok := m.value("vmcheck_diagnosis", lbl("code", "dns_failure", "layer", "network", "nic", "")); !ok || v != 1 {
			t.Errorf("%s: vmcheck_diagnosis{domain=\"lab-debian\",code=\"dns_failure\",layer=\"network\",nic=\"\"} = %v (present %v), want 1", where, v, ok)
		}
		if mf := m["vmcheck_diagnosis"]; mf != nil {
			for _, s := range mf.Metric {
				for _, l := range s.Label {
					if l.GetName() == "code" && l.GetValue() != "dns_failure" {
						t.Errorf("%s: vmcheck_diagnosis with code %q, want dns_failure only", where, l.GetValue())
					}
				}
			}
		}
		for target, want := range map[[2]string]float64{
			{"dns", pmWebName}: 0, {"tcp", pmWebTCP}: 1, {"http", pmWebURL}: 1, {"mtu", external4}: 1,
		} {
			if v, ok := m.value("vmcheck_probe_success", lbl("kind", "service", "method", target[0], "target", target[1], "nic", "")); !ok || v != want {
				t.Errorf("%s: vmcheck_probe_success{kind=\"service\",method=%q,target=%q} = %v (present %v), want %v", where, target[0], target[1], v, ok, want)
			}
		}
		if v, ok := m.value("vmcheck_probe_path_mtu_bytes", lbl("kind", "service", "method", "mtu", "target", external4)); !ok || v != 1500 {
			t.Errorf("%s: vmcheck_probe_path_mtu_bytes{method=\"mtu\"} = %v (present %v), want 1500", where, v, ok)
		}
		if v, ok := m.value("vmcheck_probe_loss_ratio", lbl("kind", "external", "method", "icmp", "target", external4)); !ok || v != 0 {
			t.Errorf("%s: vmcheck_probe_loss_ratio{kind=\"external\",method=\"icmp\"} = %v (present %v), want 0", where, v, ok)
		}
		if v, _ := m.value("vmcheck_domain_state", lbl("state", "degraded")); v != 1 {
			t.Errorf("%s: lab-debian not reported degraded (--down-after 1)", where)
		}
	}

	t.Run("cron", func(t *testing.T) {
		dir := t.TempDir()
		r := vmcheckRun(t, roundCap, "cron", "-c", labURI, "--config", cfg, "--domain", "lab-debian", "--textfile-dir", dir,
			"--down-after", "1", "--ping-timeout", "1s", "--timeout", "30s")
		if r.code != output.ExitProbeFailed {
			t.Errorf("vmcheck cron exit %d, want %d (lab-debian degraded); stderr:\n%s", r.code, output.ExitProbeFailed, r.stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, "vmcheck.prom"))
		if err != nil {
			t.Fatal(err)
		}
		assertMetrics(t, "textfile", expParse(t, b))
		// The JSON log line names the cause too.
		found := false
		for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var f struct {
				Msg       string            `json:"msg"`
				Domain    string            `json:"domain"`
				Diagnosis []model.Diagnosis `json:"diagnosis"`
			}
			if json.Unmarshal([]byte(l), &f) != nil || f.Msg != "vm checked" || f.Domain != "lab-debian" {
				continue
			}
			found = true
			if len(f.Diagnosis) != 1 || f.Diagnosis[0].Code != model.CodeDNSFailure {
				t.Errorf("cron log line diagnosis = %+v, want [dns_failure]: %s", f.Diagnosis, l)
			}
		}
		if !found {
			t.Errorf("no JSON log line for lab-debian:\n%s", r.stderr)
		}
	})

	t.Run("serve", func(t *testing.T) {
		s := expStartServe(t, "--config", cfg, "--domain", "lab-debian", "--interval", "3s", "--down-after", "1",
			"--ping-timeout", "1s", "--timeout", "30s")
		base := "http://" + s.addr
		var m expMetrics
		expWait(t, "vmcheck_diagnosis{code=\"dns_failure\"} on /metrics", 90*time.Second, func() (bool, string) {
			b, err := expGet(base + "/metrics")
			if err != nil {
				return false, err.Error()
			}
			if m, err = parseExposition(b); err != nil {
				return false, err.Error()
			}
			_, ok := m.value("vmcheck_diagnosis", lbl("code", "dns_failure"))
			return ok, "no dns_failure series yet"
		})
		assertMetrics(t, "/metrics", m)
		b, err := expGet(base + "/api/results/" + pmDebianUUID)
		if err != nil {
			t.Fatal(err)
		}
		var d model.Result
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("/api/results: %v\n%s", err, b)
		}
		if got := pmCodes(d); !slices.Equal(got, []model.Code{model.CodeDNSFailure}) || d.State != model.StateDegraded {
			t.Errorf("/api/results: state %s, codes %v; want degraded, [dns_failure]", d.State, got)
		}
		if dns := pmService(t, d, "dns"); dns.Status != model.ProbeFailed {
			t.Errorf("/api/results: dns probe status %s, want failed", dns.Status)
		}
		// The resolver back: the next round clears the series.
		lab(t, "fault", "dns-start")
		expWait(t, "vmcheck_diagnosis gone and lab-debian ok", 90*time.Second, func() (bool, string) {
			b, err := expGet(base + "/metrics")
			if err != nil {
				return false, err.Error()
			}
			m, err := parseExposition(b)
			if err != nil {
				return false, err.Error()
			}
			_, diag := m.value("vmcheck_diagnosis", debian)
			dns, _ := m.value("vmcheck_probe_success", lbl("kind", "service", "method", "dns"))
			ok, _ := m.value("vmcheck_domain_state", lbl("state", "ok"))
			return !diag && dns == 1 && ok == 1, fmt.Sprintf("diagnosis series %v, dns success %v, ok %v", diag, dns, ok)
		})
	})
}
