// Package exportertest holds what the exporter's rooms test with: one
// round of results covering every state and a hostile guest (Fixture), a
// History that has recorded it (History), a hypervisor and an engine whose
// domains, events and verdicts a test controls (FakeHost, FakeEngine), and
// the golden-file comparison of the metrics. Only tests import it.
package exportertest

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	_ "github.com/vmcheck/vmcheck/qemuhost" // the registry of a vmcheck binary: both backends (host_link_down's plain text names each)
)

// T0 is the start of the first round in every test.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// The UUIDs of the Fixture's domains; UUIDEvil is in upper case, as no
// label may carry it.
const (
	UUIDDebian  = "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01"
	UUIDBadGW   = "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a02"
	UUIDNoAgent = "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a03"
	UUIDPaused  = "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a04"
	UUIDEvil    = "0B4EC1C4-5D3A-4C5E-9B1E-2F4A6C8E0A05"
	UUIDWindows = "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a06"
)

// OKProbes returns a passed external probe of 203.0.113.10 and a passed
// gateway probe of gw on the NIC mac.
func OKProbes(gw string, mac guestagent.MAC, rtt float64) []model.ProbeResult {
	return Typed([]model.ProbeResult{
		{Kind: model.ProbeExternal, Target: "203.0.113.10", OK: true, Status: model.ProbePassed, RTT: rtt},
		{Kind: model.ProbeGateway, Target: gw, NIC: mac, OK: true, Status: model.ProbePassed, RTT: rtt / 2},
	})
}

// Typed sets each probe's Addr from its Target, as the engine does for
// the kinds whose target is an address (external, gateway, address);
// a Target that is not one leaves it zero.
func Typed(probes []model.ProbeResult) []model.ProbeResult {
	for i, p := range probes {
		if p.Kind == model.ProbeExternal || p.Kind == model.ProbeGateway || p.Kind == model.ProbeAddress {
			probes[i].Addr, _ = netip.ParseAddr(p.Target)
		}
	}
	return probes
}

// Fixture returns one round of results covering every state, and a
// hostile guest whose strings must never reach a label or the page raw.
func Fixture(at time.Time) ([]model.Domain, []model.Result) {
	res := []model.Result{
		{
			Name: "lab-debian", UUID: UUIDDebian, State: model.StateOK,
			OS:    model.OSResult{Family: "linux", ID: "debian", Name: "Debian GNU/Linux", Version: "12"},
			Agent: model.AgentResult{State: model.AgentOK, Version: "7.2.0"},
			NICs: []model.NICResult{{MAC: "52:54:00:aa:00:01", Device: "vnet0", SourceType: "network", Source: "default", GuestName: "enp1s0",
				IPs: []string{"192.168.122.10"}, Gateway: "192.168.122.1", GatewaySource: "libvirt-network", NetworkType: "external"}},
			Probes: OKProbes("192.168.122.1", "52:54:00:aa:00:01", 0.0012),
		},
		{
			Name: "lab-badgw", UUID: UUIDBadGW, State: model.StateDegraded,
			OS:    model.OSResult{Family: "linux", ID: "alpine", Version: "3.19.1"},
			Agent: model.AgentResult{State: model.AgentOK},
			NICs: []model.NICResult{{MAC: "52:54:00:aa:00:02", Device: "vnet1", SourceType: "bridge", Source: "br-tenant",
				IPs: []string{"192.168.122.20"}, NetworkType: "external"}},
			Alert: &policy.Alert{Notify: policy.NotifyBoth, Severity: "critical", Receiver: "acme-oncall", Tenant: "acme"},
			Probes: []model.ProbeResult{
				{Kind: model.ProbeExternal, Target: "203.0.113.10", OK: true, Status: model.ProbePassed, RTT: 0.002},
				{Kind: model.ProbeGateway, Target: "192.168.122.254", NIC: "52:54:00:AA:00:02", Status: model.ProbeFailed, Error: "no reply"},
				{Kind: model.ProbeAddress, Target: "192.168.122.20", NIC: "52:54:00:aa:00:02", OK: true, Status: model.ProbePassed},
			},
			Reason: "gateway 192.168.122.254: no reply",
			Diagnosis: []model.Diagnosis{{Code: model.CodeGatewayUnresolved, Layer: model.LayerNetwork, NIC: "52:54:00:AA:00:02",
				Detail: "the guest has no resolved neighbour entry for its gateway 192.168.122.254 after a failed ping: layer 2 is broken"}},
		},
		{
			Name: "lab-noagent", UUID: UUIDNoAgent, State: model.StateUnknown,
			OS:     model.OSResult{Family: "unknown"},
			Agent:  model.AgentResult{State: model.AgentDisconnected},
			Probes: []model.ProbeResult{},
			Reason: "the guest agent is not connected: qemu-guest-agent is not running in the guest; start and enable it",
		},
		{
			Name: "lab-paused", UUID: UUIDPaused, State: model.StatePaused,
			OS:     model.OSResult{Family: "unknown"},
			Agent:  model.AgentResult{State: model.AgentOK},
			Reason: "the domain is paused; it was not probed",
		},
		{
			Name: "lab-windows", UUID: UUIDWindows, State: model.StateOK,
			OS:     model.OSResult{Family: "windows", ID: "mswindows", Name: "Microsoft Windows Server 2022", Version: "10.0.20348"},
			Agent:  model.AgentResult{State: model.AgentOK, Version: "106.0.1"},
			Probes: OKProbes("2001:db8::1", "52:54:00:aa:00:06", 0.004),
		},
		{
			Name: "zz-hostile", UUID: UUIDEvil, State: model.StateDown,
			OS: model.OSResult{Family: "linux", ID: "ubuntu\"} 1\nfake_metric{a=\"b", Name: "<script>alert(1)</script>",
				Version: "22.04\u202e\u0000" + string([]byte{0xff})},
			Agent: model.AgentResult{State: model.AgentOK},
			Probes: []model.ProbeResult{
				{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbeFailed, Error: "no reply"},
				{Kind: model.ProbeGateway, Target: "fe80::1%eth0", NIC: "not-a-mac", Status: model.ProbeFailed, Error: "<b>no</b> reply"},
				{Kind: model.ProbeGateway, Target: "not-an-ip", Status: model.ProbeFailed, Error: "x"},
				{Kind: model.ProbeExternal, Target: "198.51.100.1", Status: model.ProbeError, Error: "timed out"},
				{Kind: model.ProbeAddress, Target: "192.0.2.99", NIC: "52:54:00:aa:00:05", Status: model.ProbeFailed},
				{Kind: model.ProbeAddress, Target: "<b>not-an-ip</b>", NIC: "52:54:00:aa:00:05", Status: model.ProbeFailed},
			},
			Reason: "<img src=x onerror=alert(1)> every probe failed",
			// Codes outside the closed set are dropped from the metrics, a
			// wrong layer is replaced by the code's own, a NIC that is not a
			// MAC becomes the placeholder; the page escapes the detail.
			Diagnosis: []model.Diagnosis{
				{Code: model.CodeHostLinkDown, Layer: "tenant", NIC: "52:54:00:aa:00:05", Detail: "<script>alert(2)</script> link down"},
				{Code: "evil\"} 1\nfake", Layer: model.LayerHost, NIC: "52:54:00:aa:00:05", Detail: "x"},
				{Code: model.CodeGuestAddressMismatch, Layer: model.LayerGuest, NIC: "not-a-mac", Detail: "holds 10.0.0.9, assigned 192.0.2.99"},
				{Code: model.CodeUpstreamUnreachable, Layer: model.LayerNetwork, Detail: "the gateway answers, 203.0.113.10 does not"},
			},
		},
	}
	doms := make([]model.Domain, len(res))
	for i := range res {
		res[i].CheckedAt = at
		res[i].Duration = 1.5
		doms[i] = model.Domain{Name: res[i].Name, UUID: res[i].UUID}
	}
	doms[0].Nova = model.Nova{Instance: "web-01 (shop)", Project: "shop"}
	doms[5].Nova = model.Nova{Instance: "evil\x1b[31m\u202einstance", Project: "p\"roj"}
	return doms, typedResults(res)
}

// typedResults sets the Addr of every probe of res (Typed).
func typedResults(res []model.Result) []model.Result {
	for i := range res {
		res[i].Probes = Typed(res[i].Probes)
	}
	return res
}

// History records the fixture's round downAfter times, one minute
// apart, so that failures are confirmed.
func History(downAfter int) *history.History {
	h := history.New(downAfter)
	h.SetSourceUp(libvirthost.Name, true)
	var last time.Time
	for i := range downAfter {
		last = T0.Add(time.Duration(i) * time.Minute)
		doms, res := Fixture(last)
		for j := range res {
			h.Record(doms[j], res[j], nil)
		}
	}
	h.SetRound(history.Round{Start: last, Duration: 4200 * time.Millisecond, Domains: 6})
	return h
}

// HostileRound is round i of a guest that reports a new gateway, OS id and
// OS version every round, and a host whose Nova name, assigned address and
// NIC (diagnosed with its link down, and with a code outside the closed
// set) change too.
func HostileRound(i int) (model.Domain, model.Result) {
	gw := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	r := model.Result{
		Name: "vm", UUID: UUIDDebian, State: model.StateOK, CheckedAt: T0.Add(time.Duration(i) * time.Minute),
		OS:    model.OSResult{Family: "linux", ID: fmt.Sprintf("os%d", i%3), Version: fmt.Sprintf("v%d", i)},
		Agent: model.AgentResult{State: model.AgentOK},
		Probes: append(OKProbes(gw, "52:54:00:aa:00:01", 0.001),
			model.ProbeResult{Kind: model.ProbeGateway, Target: gw, NIC: MAC(fmt.Sprintf("52:54:00:bb:%02x:%02x", byte(i>>8), byte(i))), Status: model.ProbeFailed},
			model.ProbeResult{Kind: model.ProbeAddress, Target: gw, NIC: MAC(fmt.Sprintf("52:54:00:cc:%02x:%02x", byte(i>>8), byte(i))), Status: model.ProbeFailed}),
		Diagnosis: []model.Diagnosis{
			{Code: model.CodeHostLinkDown, Layer: model.LayerHost, NIC: MAC(fmt.Sprintf("52:54:00:dd:%02x:%02x", byte(i>>8), byte(i)))},
			{Code: model.Code(fmt.Sprintf("code%d", i)), Layer: model.LayerHost},
		},
		NICs: []model.NICResult{{MAC: MAC(fmt.Sprintf("52:54:00:dd:%02x:%02x", byte(i>>8), byte(i))), SourceType: "bridge", Source: fmt.Sprintf("br%d", i)}},
	}
	r.Probes = Typed(r.Probes)
	d := model.Domain{Name: "vm", UUID: UUIDDebian, Nova: model.Nova{Instance: fmt.Sprintf("inst-%d", i), Project: "p"}}
	return d, r
}

// MAC parses s, a valid MAC in any spelling, for a fixture; it panics on
// anything else.
func MAC(s string) guestagent.MAC {
	mac, ok := guestagent.ParseMAC(s)
	if !ok {
		panic("exportertest: not a MAC: " + s)
	}
	return mac
}
