//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// The lab's NICs that are not Linux bridge ports (lab/lab.sh NIC_KIND), and
// a Linux bridge guest beside them.
const (
	macOVS       = "52:54:00:0c:00:26" // lab-ovs: OVS port of vcovs0, plugged as Nova plugs it
	macMacvtap   = "52:54:00:0c:00:27" // lab-macvtap: macvtap on vcmvt0, mode bridge
	ovsNovaPort  = "5c0c0026-0a0b-4c0d-8e0f-000000000026"
	ovsTap       = "tap5c0c0026-0a"
	macvtapLower = "vcmvt0"
	linuxBridge  = "vcpub0"
)

// The host causes of the NIC kinds (CONTRACT-19: layer host).
const (
	codeOVSPortDown      model.Code = "host_ovs_port_down"
	codeMacvtapLowerDown model.Code = "host_macvtap_lower_down"
	hostKindOVS                     = "openvswitch"
	hostKindMacvtap                 = "direct"
	hostKindBridge                  = "bridge"
)

// The NIC-kind guests in the full lab's table (fullLab, TestFullRound and
// the exporter tests): healthy debian guests like lab-debian.
func init() {
	for name, mac := range map[string]string{"lab-ovs": macOVS, "lab-macvtap": macMacvtap} {
		fullLab[name] = want{state: model.StateOK, agent: model.AgentOK, family: "linux", osID: "debian", osSource: "osinfo",
			probes: map[string]model.ProbeStatus{p(model.ProbeExternal, "203.0.113.10"): model.ProbePassed, p(model.ProbeGateway, gw4): model.ProbePassed},
			nics:   map[string][3]string{mac: {gw4, "guest-proc-route", "external"}}}
	}
}

// nicHost is the host side of one NIC in the JSON report (host_kind and
// host_side, decoded on their own so this file does not depend on the Go
// types).
type nicHost struct {
	MAC      string `json:"mac"`
	HostKind string `json:"host_kind"`
	HostSide *struct {
		Kind  string   `json:"kind"`
		Known bool     `json:"known"`
		Facts []string `json:"facts"`
		Note  string   `json:"note"`
	} `json:"host_side"`
}

// nicRun is one check of the NIC-kind guests: the decoded report and each
// NIC's host side by domain and MAC.
type nicRun struct {
	run
	hosts map[string]map[string]nicHost
}

// ovsdbRemote is the lab's OVSDB socket ($LAB_DIR/env, written by lab.sh up).
func ovsdbRemote(t *testing.T) string {
	t.Helper()
	r := os.Getenv("VMCHECK_LAB_OVSDB")
	if r == "" {
		t.Fatal("VMCHECK_LAB_OVSDB is not set: source $VMCHECK_LAB_DIR/env of a lab brought up by lab/lab.sh up (it runs Open vSwitch)")
	}
	return r
}

// nicCheck runs `vmcheck check --output json` for doms inside the lab's
// network namespace (where the taps, the macvtap and its lower device live)
// with the lab's OVSDB socket.
func nicCheck(t *testing.T, doms ...string) nicRun {
	t.Helper()
	return nicExec(t, true, doms...)
}

// nicExec is nicCheck, or with inLab false a check from the host's
// namespaces with the default OVSDB socket: where vmcheck sees neither the
// lab's taps nor its Open vSwitch.
func nicExec(t *testing.T, inLab bool, doms ...string) nicRun {
	t.Helper()
	args := []string{"check", "-c", labURI, "--output", "json", "--external", external4, "--ping-timeout", "1s", "--timeout", "20s"}
	for _, d := range doms {
		args = append(args, "--domain", d)
	}
	name := vmcheck
	if inLab {
		name, args = "ip", append([]string{"netns", "exec", "vmcheck-lab", vmcheck}, append(args, "--ovsdb", ovsdbRemote(t))...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), roundCap)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := nicRun{run: run{stdout: out.String(), stderr: errb.String()}}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s", name, args, roundCap)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if r.code == output.ExitError {
		t.Fatalf("vmcheck %v exited 3 (a binary without --ovsdb, CONTRACT-19, fails here): %s", args, r.stderr)
	}
	if err := json.Unmarshal(out.Bytes(), &r.report); err != nil {
		t.Fatalf("vmcheck %v: output is not the JSON contract: %v\n%s", args, err, r.stdout)
	}
	var raw struct {
		Domains []struct {
			Name string    `json:"name"`
			NICs []nicHost `json:"nics"`
		} `json:"domains"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("vmcheck %v: nics: %v", args, err)
	}
	r.hosts = map[string]map[string]nicHost{}
	for _, d := range raw.Domains {
		r.hosts[d.Name] = map[string]nicHost{}
		for _, n := range d.NICs {
			r.hosts[d.Name][strings.ToLower(n.MAC)] = n
		}
	}
	return r
}

// host returns the host side of dom's NIC mac, failing if it is missing.
func (r nicRun) host(t *testing.T, dom, mac string) nicHost {
	t.Helper()
	n, ok := r.hosts[dom][mac]
	if !ok {
		t.Fatalf("%s: no NIC %s in %s", dom, mac, r.stdout)
	}
	return n
}

// nicGuest is one guest of a NIC kind and its host fault.
type nicGuest struct {
	dom, mac, kind string
	// fault/undo: the lab faults of the kind's host cause code.
	fault, undo []string
	code        model.Code
	// remedy: the detail must name one of these (the kind's own tools and
	// device); never: it must name none of these (another kind's remedy).
	remedy, never []string
}

var nicGuests = []nicGuest{
	{dom: "lab-ovs", mac: macOVS, kind: hostKindOVS, code: codeOVSPortDown,
		fault: []string{"ovs-port-down", "lab-ovs"}, undo: []string{"ovs-port-up", "lab-ovs"},
		remedy: []string{"ovs-vsctl", "ovs-ofctl"}, never: []string{"master", "brctl"}},
	{dom: "lab-ovs", mac: macOVS, kind: hostKindOVS, code: codeOVSPortDown,
		fault: []string{"ovs-port-detach", "lab-ovs"}, undo: []string{"ovs-port-attach", "lab-ovs"},
		remedy: []string{"ovs-vsctl"}, never: []string{"master", "brctl"}},
	{dom: "lab-ovs", mac: macOVS, kind: hostKindOVS, code: codeOVSPortDown,
		fault: []string{"ovs-tap-vanish", "lab-ovs"}, undo: []string{"ovs-tap-return", "lab-ovs"},
		remedy: []string{"ovs-vsctl"}, never: []string{"master", "brctl"}},
	{dom: "lab-ovs", mac: macOVS, kind: hostKindOVS, code: model.CodeHostLinkDown,
		fault: []string{"link-down", "lab-ovs"}, undo: []string{"link-up", "lab-ovs"},
		remedy: []string{"domif-setlink"}, never: []string{"master"}},
	{dom: "lab-macvtap", mac: macMacvtap, kind: hostKindMacvtap, code: codeMacvtapLowerDown,
		fault: []string{"macvtap-lower-down", "lab-macvtap"}, undo: []string{"macvtap-lower-up", "lab-macvtap"},
		remedy: []string{macvtapLower}, never: []string{"master", "ovs-"}},
	{dom: "lab-macvtap", mac: macMacvtap, kind: hostKindMacvtap, code: model.CodeHostLinkDown,
		fault: []string{"link-down", "lab-macvtap"}, undo: []string{"link-up", "lab-macvtap"},
		remedy: []string{"domif-setlink"}, never: []string{"master"}},
	// The Linux bridge keeps its cause and its remedy beside the other kinds.
	{dom: "lab-debian", mac: macDebian, kind: hostKindBridge, code: model.CodeHostTapDown,
		fault: []string{"tap-unplug", "lab-debian"}, undo: []string{"tap-plug", "lab-debian"},
		remedy: []string{"master " + linuxBridge}, never: []string{"ovs-"}},
}

// nicKindOf is the host_kind each lab guest's first NIC must show.
var nicKindOf = map[string][2]string{
	"lab-ovs":     {macOVS, hostKindOVS},
	"lab-macvtap": {macMacvtap, hostKindMacvtap},
	"lab-debian":  {macDebian, hostKindBridge},
}

// nicDomains are the guests of every NIC kind in the lab.
var nicDomains = []string{"lab-ovs", "lab-macvtap", "lab-debian"}

// assertNICHealthy checks that each guest is ok with no diagnosis, that its
// NIC's kind is named from the domain definition, and that the host side
// was not read (only a failed check reads it).
func assertNICHealthy(t *testing.T, r nicRun, when string, doms ...string) {
	t.Helper()
	for _, dom := range doms {
		assertHealthy(t, domain(t, r.run, dom), when)
		want := nicKindOf[dom]
		h := r.host(t, dom, want[0])
		if h.HostKind != want[1] {
			t.Errorf("%s %s: NIC %s host_kind = %q, want %q", dom, when, want[0], h.HostKind, want[1])
		}
		if h.HostSide != nil {
			t.Errorf("%s %s: a healthy check read the host side: %+v", dom, when, *h.HostSide)
		}
	}
}

// TestNICKindsHealthy checks the guests of every NIC kind in a healthy lab.
func TestNICKindsHealthy(t *testing.T) {
	assertNICHealthy(t, nicCheck(t, nicDomains...), "in a healthy lab", nicDomains...)
}

// TestNICKindsHostFaults injects each NIC kind's host fault and asserts its
// code first, on the NIC, at layer host, with a remedy in the kind's terms;
// then undoes it and asserts the guest is ok again.
func TestNICKindsHostFaults(t *testing.T) {
	for _, c := range nicGuests {
		t.Run(c.dom+"/"+c.fault[0], func(t *testing.T) {
			lab(t, append([]string{"fault"}, c.fault...)...)
			t.Cleanup(func() { lab(t, append([]string{"fault"}, c.undo...)...) })
			r := nicCheck(t, c.dom)
			d := domain(t, r.run, c.dom)
			t.Logf("%s after %v: state %s, reason %q, diagnosis %s", c.dom, c.fault, d.State, d.Reason, diagJSON(d))
			assertHostCause(t, d, c)
			assertHostSide(t, r.host(t, c.dom, c.mac), c)
			lab(t, append([]string{"fault"}, c.undo...)...)
			assertNICHealthy(t, nicCheck(t, c.dom), "after "+strings.Join(c.undo, " "), c.dom)
		})
	}
}

// assertHostCause checks that c's code is d's first cause, on c's NIC, at
// layer host, with a remedy in the kind's terms, and that no other host
// cause and no gateway_icmp_filtered (the cached-neighbour misdiagnosis of a
// macvtap whose lower device is down) come with it.
func assertHostCause(t *testing.T, d model.Result, c nicGuest) {
	t.Helper()
	if d.State == model.StateOK {
		t.Errorf("%s: state ok under %v", d.Name, c.fault)
	}
	if got := model.Codes[c.code]; got != model.LayerHost {
		t.Errorf("model.Codes[%s] = %q, want layer %q", c.code, got, model.LayerHost)
	}
	if len(d.Diagnosis) == 0 {
		t.Fatalf("%s: no diagnosis under %v, want %s", d.Name, c.fault, c.code)
	}
	if first := d.Diagnosis[0]; first.Code != c.code {
		t.Errorf("%s: first cause %s, want %s (diagnosis %s)", d.Name, first.Code, c.code, diagJSON(d))
	}
	for _, g := range d.Diagnosis {
		if g.Code == model.CodeGatewayICMPFiltered {
			t.Errorf("%s: %s under a host fault: %s", d.Name, g.Code, g.Detail)
		}
		if g.Layer == model.LayerHost && g.Code != c.code {
			t.Errorf("%s: host cause %s beside %s: %s", d.Name, g.Code, c.code, g.Detail)
		}
		if g.Code != c.code {
			continue
		}
		if g.Layer != model.LayerHost {
			t.Errorf("%s: %s layer %q, want host", d.Name, g.Code, g.Layer)
		}
		if !strings.EqualFold(g.NIC.String(), c.mac) {
			t.Errorf("%s: %s nic = %q, want %q", d.Name, g.Code, g.NIC, c.mac)
		}
		named := false
		for _, w := range c.remedy {
			named = named || strings.Contains(g.Detail, w)
		}
		if !named {
			t.Errorf("%s: %s remedy %q names none of %q", d.Name, g.Code, g.Detail, c.remedy)
		}
		for _, w := range c.never {
			if strings.Contains(g.Detail, w) {
				t.Errorf("%s: %s remedy %q names %q: wrong for a %s NIC", d.Name, g.Code, g.Detail, w, c.kind)
			}
		}
	}
}

// assertHostSide checks the host side a failed check read: the kind, known,
// facts; for the OVS port its iface-id tied to the domain's Nova port.
func assertHostSide(t *testing.T, h nicHost, c nicGuest) {
	t.Helper()
	if h.HostKind != c.kind {
		t.Errorf("%s: host_kind = %q, want %q", c.dom, h.HostKind, c.kind)
	}
	if h.HostSide == nil {
		// host_link_down comes from the domain's definition: the host side
		// need not be read for it.
		if c.code != model.CodeHostLinkDown {
			t.Errorf("%s: no host_side after a failed check", c.dom)
		}
		return
	}
	s := *h.HostSide
	t.Logf("%s: host_side %+v", c.dom, s)
	if s.Kind != c.kind || !s.Known || len(s.Facts) == 0 {
		t.Errorf("%s: host_side kind %q known %t facts %q, want kind %q, known, facts", c.dom, s.Kind, s.Known, s.Facts, c.kind)
	}
	facts := strings.Join(s.Facts, "\n")
	switch {
	case c.kind == hostKindOVS && c.fault[0] == "ovs-port-down":
		// The port's OVSDB row: its state, and its iface-id tied to the
		// Nova port of the domain's metadata.
		mustContain(t, c.dom+" host_side facts", facts, ovsTap)
		for _, f := range []string{"admin_state down", "iface-id " + ovsNovaPort} {
			if !slices.Contains(s.Facts, f) {
				t.Errorf("%s: host_side facts %q lack %q", c.dom, s.Facts, f)
			}
		}
		tied := false
		for _, f := range s.Facts {
			tied = tied || (strings.Contains(strings.ToLower(f), "nova port") && !strings.HasPrefix(f, "iface-id "+ovsNovaPort))
		}
		if !tied {
			t.Errorf("%s: host_side facts %q do not tie the iface-id to the Nova port", c.dom, s.Facts)
		}
	case c.kind == hostKindMacvtap:
		mustContain(t, c.dom+" host_side facts", facts, macvtapLower)
		mustContain(t, c.dom+" host_side facts", facts, "mode bridge")
	}
}

// nicNetFault is a network fault and the causes it may get on every kind:
// the first of codes is what the fault is; a later one is what the
// guest's neighbour entry may truthfully leave it at (a gateway dropping
// echo requests whose ARP answer the entry did not record during the
// check is gateway_unconfirmed: the entry went DELAY, then STALE on
// lab-ovs in one CI run, as an ARP packet overrode it).
type nicNetFault struct {
	fault, undo []string
	codes       []model.Code
}

// TestNICKindsNetworkFaults injects network faults and asserts that the
// guests of every NIC kind get the network cause and no host cause at all.
func TestNICKindsNetworkFaults(t *testing.T) {
	for _, f := range []nicNetFault{
		{fault: []string{"gateway-drop-icmp"}, undo: []string{"gateway-allow-icmp"}, codes: []model.Code{model.CodeGatewayICMPFiltered, model.CodeGatewayUnconfirmed}},
		{fault: []string{"upstream-cut"}, undo: []string{"upstream-restore"}, codes: []model.Code{model.CodeUpstreamUnreachable}},
		{fault: []string{"gateway-absent"}, undo: []string{"gateway-present"}, codes: []model.Code{model.CodeGatewayUnresolved}},
	} {
		t.Run(f.fault[0], func(t *testing.T) {
			lab(t, append([]string{"fault"}, f.fault...)...)
			t.Cleanup(func() { lab(t, append([]string{"fault"}, f.undo...)...) })
			settleGatewayEntry(t, f.codes[0], nicDomains...)
			r := nicCheck(t, nicDomains...)
			for _, dom := range nicDomains {
				d := domain(t, r.run, dom)
				t.Logf("%s under %s: state %s, diagnosis %s", dom, f.fault[0], d.State, diagJSON(d))
				assertNetworkOnly(t, d, nicKindOf[dom][0], f.codes...)
			}
			lab(t, append([]string{"fault"}, f.undo...)...)
			assertNICHealthy(t, nicCheck(t, nicDomains...), "after "+f.undo[0], nicDomains...)
		})
	}
}

// assertNetworkOnly checks that d's causes are all at layer network, with
// one of codes among them on the NIC mac.
func assertNetworkOnly(t *testing.T, d model.Result, mac string, codes ...model.Code) {
	t.Helper()
	if d.State == model.StateOK {
		t.Errorf("%s: state ok under a network fault", d.Name)
	}
	found := false
	for _, g := range d.Diagnosis {
		if g.Layer != model.LayerNetwork {
			t.Errorf("%s: %s cause %s under a network fault: %s", d.Name, g.Layer, g.Code, g.Detail)
		}
		if slices.Contains(codes, g.Code) && strings.EqualFold(g.NIC.String(), mac) {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: none of %v on %s in %s", d.Name, codes, mac, diagJSON(d))
	}
}

// TestNICKindsHostSideUnseen checks each kind's host fault from where
// vmcheck cannot see the host side (the host's namespaces, no OVSDB at the
// default socket): the host side is said to be unknown, with why, and no
// host cause is named.
func TestNICKindsHostSideUnseen(t *testing.T) {
	for _, c := range []nicGuest{
		{dom: "lab-ovs", mac: macOVS, kind: hostKindOVS, fault: []string{"ovs-port-down", "lab-ovs"}, undo: []string{"ovs-port-up", "lab-ovs"}},
		{dom: "lab-macvtap", mac: macMacvtap, kind: hostKindMacvtap, fault: []string{"macvtap-lower-down", "lab-macvtap"}, undo: []string{"macvtap-lower-up", "lab-macvtap"}},
	} {
		t.Run(c.dom+"/"+c.fault[0], func(t *testing.T) {
			lab(t, append([]string{"fault"}, c.fault...)...)
			t.Cleanup(func() { lab(t, append([]string{"fault"}, c.undo...)...) })
			r := nicExec(t, false, c.dom)
			d := domain(t, r.run, c.dom)
			t.Logf("%s after %v, outside the lab's netns: state %s, diagnosis %s", c.dom, c.fault, d.State, diagJSON(d))
			if d.State == model.StateOK {
				t.Errorf("%s: state ok under %v", c.dom, c.fault)
			}
			for _, g := range d.Diagnosis {
				if g.Layer == model.LayerHost {
					t.Errorf("%s: host cause %s from a host side vmcheck cannot see: %s", c.dom, g.Code, g.Detail)
				}
			}
			h := r.host(t, c.dom, c.mac)
			switch {
			case h.HostSide == nil:
				t.Errorf("%s: no host_side after a failed check, want it unknown with a note", c.dom)
			case h.HostSide.Kind != c.kind || h.HostSide.Known || strings.TrimSpace(h.HostSide.Note) == "":
				t.Errorf("%s: host_side %+v, want kind %q, known false, a note", c.dom, *h.HostSide, c.kind)
			default:
				t.Logf("%s: host side unknown: %s", c.dom, h.HostSide.Note)
			}
		})
	}
}
