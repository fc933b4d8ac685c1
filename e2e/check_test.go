//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

const (
	gw4      = "192.0.2.1"
	gw6      = "2001:db8:1::1"
	gwInt    = "198.51.100.1"
	badGW    = "192.0.2.254"
	roundCap = 2 * time.Minute // outer limit: a hang fails fast
)

// want is what a user must see for one lab guest.
type want struct {
	state    model.State
	agent    model.AgentState
	family   string
	osSource string
	osID     string
	// probes: "kind target" → status
	probes map[string]model.ProbeStatus
	// nics: MAC → gateway, gateway source, network type
	nics   map[string][3]string
	reason string
	// hostile marks a guest whose agent is hostile (lab/hostile): all
	// that is promised is state unknown with a reason free of control
	// characters; the rest depends on how far its replies get.
	hostile bool
}

func p(kind model.ProbeKind, target string) string { return string(kind) + " " + target }

var fullLab = map[string]want{
	"lab-debian": {state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:00:11": {gw4, "guest-proc-route", "external"}}},
	"lab-busybox": {state: model.StateOK, agent: model.AgentOK, family: "linux", osSource: "probe",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:00:12": {gw4, "guest-proc-route", "external"}}},
	"lab-windows": {state: model.StateOK, agent: model.AgentOK, family: "windows", osID: "mswindows", osSource: "osinfo",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:00:13": {gw4, "guest-route-print", "external"}}},
	"lab-twonic": {state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed, p(model.ProbeGateway, gwInt): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:00:14": {gw4, "guest-proc-route", "external"}, "52:54:00:0c:01:14": {gwInt, "libvirt-network", "internal"}}},
	"lab-ipv6": {state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "2001:db8:ff::10"): model.ProbePassed, p(model.ProbeGateway, gw6): model.ProbePassed},
		nics:   map[string][3]string{"52:54:00:0c:00:15": {gw6, "guest-proc-route", "external"}}},
	"lab-nochannel": {state: model.StateUnknown, agent: model.AgentNoChannel, family: "unknown", reason: "no guest agent channel"},
	"lab-noagent":   {state: model.StateUnknown, agent: model.AgentDisconnected, family: "unknown", reason: "not connected"},
	"lab-noexec": {state: model.StateUnknown, agent: model.AgentExecDisabled, family: "linux", osID: "debian", osSource: "osinfo", reason: "guest-exec is blocked",
		nics: map[string][3]string{"52:54:00:0c:00:18": {gw4, "guest-proc-route", "external"}}},
	"lab-freeze": {state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo"},
	"lab-noping": {state: model.StateUnknown, agent: model.AgentOK, family: "linux", reason: "not found in the guest",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbeError, p(model.ProbeGateway, gw4): model.ProbeError}},
	"lab-badgw": {state: model.StateDown, agent: model.AgentOK, family: "linux", osID: "debian",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbeFailed, p(model.ProbeGateway, badGW): model.ProbeFailed},
		nics:   map[string][3]string{"52:54:00:0c:00:21": {badGW, "guest-proc-route", "external"}}},
	"lab-paused": {state: model.StatePaused, family: "unknown", reason: "paused"},
	"lab-flood": {state: model.StateUnknown, family: "linux",
		probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbeError}},
	"lab-hostile":      {state: model.StateUnknown, hostile: true},
	"lab-hostile-slow": {state: model.StateUnknown, hostile: true},
}

// assertWant compares one domain's result with what the lab guarantees.
func assertWant(t *testing.T, d model.Result, w want) {
	t.Helper()
	if w.hostile {
		if d.State != model.StateUnknown || d.Reason == "" {
			t.Errorf("%s (hostile agent): state %q, reason %.200q; want unknown with a reason", d.Name, d.State, d.Reason)
		}
		var l leakScan
		l.scan(d.Name+" reason", d.Reason, "")
		l.report(t, d.Name+" (hostile agent)")
		return
	}
	if d.State != w.state {
		t.Errorf("%s: state = %q, want %q (reason %q)", d.Name, d.State, w.state, d.Reason)
	}
	if w.agent != "" && d.Agent.State != w.agent {
		t.Errorf("%s: agent = %q, want %q", d.Name, d.Agent.State, w.agent)
	}
	if d.OS.Family != w.family {
		t.Errorf("%s: os family = %q, want %q", d.Name, d.OS.Family, w.family)
	}
	if w.osSource != "" && d.OS.Source != w.osSource {
		t.Errorf("%s: os source = %q, want %q", d.Name, d.OS.Source, w.osSource)
	}
	if w.osID != "" && d.OS.ID != w.osID {
		t.Errorf("%s: os id = %q, want %q", d.Name, d.OS.ID, w.osID)
	}
	for key, st := range w.probes {
		kind, target, _ := strings.Cut(key, " ")
		found := false
		for _, pr := range d.Probes {
			if string(pr.Kind) == kind && pr.Target == target {
				found = true
				if pr.Status != st {
					t.Errorf("%s: %s probe = %q (%s), want %q", d.Name, key, pr.Status, pr.Error, st)
				}
				if pr.OK != (pr.Status == model.ProbePassed) {
					t.Errorf("%s: %s probe ok=%v but status %q", d.Name, key, pr.OK, pr.Status)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s probe in %+v", d.Name, key, d.Probes)
		}
	}
	for mac, g := range w.nics {
		found := false
		for _, n := range d.NICs {
			if n.MAC.String() != mac {
				continue
			}
			found = true
			if n.Gateway != g[0] || n.GatewaySource != g[1] || n.NetworkType != g[2] {
				t.Errorf("%s nic %s: gateway %q from %q type %q, want %q from %q type %q", d.Name, mac, n.Gateway, n.GatewaySource, n.NetworkType, g[0], g[1], g[2])
			}
			if len(n.IPs) == 0 {
				t.Errorf("%s nic %s: no guest addresses learned", d.Name, mac)
			}
		}
		if !found {
			t.Errorf("%s: no NIC %s in %+v", d.Name, mac, d.NICs)
		}
	}
	if w.reason != "" && !strings.Contains(d.Reason, w.reason) {
		t.Errorf("%s: reason = %q, want it to mention %q", d.Name, d.Reason, w.reason)
	}
	if d.State != model.StateOK && d.State != model.StatePaused && d.Reason == "" {
		t.Errorf("%s: state %q without a reason", d.Name, d.State)
	}
}

func TestFullRound(t *testing.T) {
	// 30 s: lab-flood relays 12 MB through a TCG guest, which takes up to
	// 20 s on 2 cores shared by 15 guests.
	const timeout = 30 * time.Second
	r := check(t, roundCap, "--external", external4, "--external", external6, "--timeout", timeout.String())
	if r.code != output.ExitProbeFailed {
		t.Errorf("exit code = %d, want %d (lab-badgw is down)", r.code, output.ExitProbeFailed)
	}
	if len(r.report.Domains) != len(fullLab) {
		t.Errorf("got %d domains, want %d", len(r.report.Domains), len(fullLab))
	}
	for name, w := range fullLab {
		d := domain(t, r, name)
		assertWant(t, d, w)
		if d.Duration > timeout.Seconds()+1 {
			t.Errorf("%s: check took %.1fs, past its %s deadline", name, d.Duration, timeout)
		}
		if d.UUID == "" || d.CheckedAt.IsZero() {
			t.Errorf("%s: uuid %q checked_at %v", name, d.UUID, d.CheckedAt)
		}
	}
	// lab-flood's ping writes 12 MB: libvirt drops the agent rather than
	// relay a reply over 10 MiB. vmcheck must say so, in time, and not call
	// it a link result.
	flood := domain(t, r, "lab-flood")
	mustContain(t, "lab-flood reason", flood.Reason, "output")
	if flood.Agent.State != model.AgentUnresponsive {
		t.Errorf("lab-flood agent = %q, want unresponsive", flood.Agent.State)
	}
	t.Logf("full round of %d domains: %.1fs wall", len(r.report.Domains), r.duration.Seconds())
}
