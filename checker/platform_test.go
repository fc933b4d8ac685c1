package checker

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// TestAddressProbe: a NIC with platform-assigned addresses gets one
// address probe each, ok when the guest holds the address on that NIC,
// failed naming both addresses when it does not; no extra agent call.
func TestAddressProbe(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	nic := capturedNIC
	nic.Expected = []model.ExpectedAddr{
		{Addr: netip.MustParseAddr("192.0.2.13"), Source: "nova"},
		{Addr: netip.MustParseAddr("192.0.2.99"), Source: "config"},
	}
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	r := New(testConfig()).Check(context.Background(), runningDomain(g, nic))
	var got []model.ProbeResult
	for _, p := range r.Probes {
		if p.Kind == model.ProbeAddress {
			got = append(got, p)
		}
	}
	if len(got) != 2 {
		t.Fatalf("address probes = %+v, want 2", got)
	}
	if !got[0].OK || got[0].Target != "192.0.2.13" || got[0].NIC != nic.MAC {
		t.Errorf("held address: %+v, want ok", got[0])
	}
	if got[1].OK || got[1].Status != model.ProbeFailed || !strings.Contains(got[1].Error, "config") || !strings.Contains(got[1].Error, "192.0.2.13") {
		t.Errorf("address not held: %+v, want failed naming the source and the address held", got[1])
	}
	if r.State != model.StateDegraded {
		t.Errorf("state %s, want degraded (pings pass, one address missing)", r.State)
	}
}

// TestGatewayRemembered: a gateway learned from the guest's routes is
// remembered for the boot: when the guest loses its default route the
// gateway is still probed (source earlier-round), and a new boot forgets it.
func TestGatewayRemembered(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	c := New(testConfig())
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	d := runningDomain(g, capturedNIC)
	if r := c.Check(context.Background(), d); r.NICs[0].Gateway != "192.0.2.1" || r.NICs[0].GatewaySource != "guest-proc-route" {
		t.Fatalf("first check: nic %+v, want the gateway from the routes", r.NICs[0])
	}
	// The guest loses its default route: the outside is unreachable, the
	// gateway (on the link) still answers.
	lost := routeFiles(t)
	lost["/proc/net/route"] = []byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
	lost["/proc/net/ipv6_route"] = nil
	unreachable := pingStatus(t, 2, "linux-iputils-connect-unreachable.txt")
	d.Agent = newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), lost, func(cmd guestagent.Command) (agenttest.Process, error) {
		if cmd.Path == "ping" && cmd.Args[len(cmd.Args)-1] == "203.0.113.10" {
			return agenttest.Exited(unreachable), nil
		}
		return agenttest.Exited(reply), nil
	}).agent
	r := c.Check(context.Background(), d)
	if n := r.NICs[0]; n.Gateway != "192.0.2.1" || n.GatewaySource != SourceEarlierRound {
		t.Errorf("after the route is gone: nic %+v, want 192.0.2.1 from %s", n, SourceEarlierRound)
	}
	c.Forget(map[string]bool{})
	if r := c.Check(context.Background(), d); r.NICs[0].Gateway != "" {
		t.Errorf("after Forget: nic %+v, want no gateway", r.NICs[0])
	}
}

// TestConfigNICFacts: the config's nics: section gives a NIC its expected
// addresses (address probes) and its gateway (source config).
func TestConfigNICFacts(t *testing.T) {
	cfg, err := settings.ParseConfig([]byte("external: [203.0.113.10]\nnics:\n  \"52:54:00:0C:00:13\": {addresses: [192.0.2.13], gateways: [192.0.2.254]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	r := New(cfg).Check(context.Background(), runningDomain(g, capturedNIC))
	if n := r.NICs[0]; n.Gateway != "192.0.2.254" || n.GatewaySource != "config" {
		t.Errorf("nic %+v, want gateway 192.0.2.254 from config", n)
	}
	found := false
	for _, p := range r.Probes {
		if p.Kind == model.ProbeAddress && p.Target == "192.0.2.13" && p.OK {
			found = true
		}
	}
	if !found {
		t.Errorf("probes %+v, want an ok address probe of 192.0.2.13", r.Probes)
	}
}
