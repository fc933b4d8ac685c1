package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// qga holds the transcripts captured from real agents.
const qga = "../testdata/qga/"

// pingStatus is the status of a finished ping that printed one of the real
// outputs kept in testdata/ping.
func pingStatus(t *testing.T, exit int, file string) guestagent.ExecStatus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "ping", file))
	if err != nil {
		t.Fatal(err)
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &exit, Stdout: b}
}

// routeFiles serves the captured Linux route tables (testdata/routes) as
// /proc/net/route and /proc/net/ipv6_route.
func routeFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for path, name := range map[string]string{
		"/proc/net/route":      "linux-proc-net-route.txt",
		"/proc/net/ipv6_route": "linux-proc-net-ipv6_route.txt",
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "routes", name))
		if err != nil {
			t.Fatal(err)
		}
		files[path] = b
	}
	return files
}

// fakeGuest is a guest agent recorded in a transcript, behind agenttest's
// fake agent: answers overrides the recorded reply to a command, files
// are served through guest-file-*, and spawn decides what each guest-exec
// starts (agenttest.Guest keeps the processes and open files).
type fakeGuest struct {
	answers map[string]agenttest.Func
	agent   *agenttest.Agent
}

func newFakeGuest(recorded *agenttest.Transcript, files map[string][]byte, spawn func(guestagent.Command) (agenttest.Process, error)) *fakeGuest {
	g := &fakeGuest{answers: map[string]agenttest.Func{}}
	guest := &agenttest.Guest{Files: files, Spawn: spawn, Next: func(cmd string, args json.RawMessage) (any, error) {
		if answer, ok := g.answers[cmd]; ok {
			return answer(cmd, args)
		}
		return recorded.Answer(cmd, args)
	}}
	g.agent = agenttest.New(guest.Answer)
	return g
}

// unexpectedExec fails the test for a guest-exec it should not run.
func unexpectedExec(t *testing.T, cmd guestagent.Command) (agenttest.Process, error) {
	t.Errorf("unexpected guest-exec %s %v", cmd.Path, cmd.Args)
	return nil, &guestagent.Error{Class: "GenericError", Desc: "unexpected"}
}

// newLinuxGuest is the captured Debian guest (testdata/qga/linux-basic.jsonl)
// with its route tables; ping gives the status of the ping of each target.
func newLinuxGuest(t *testing.T, ping func(target string) guestagent.ExecStatus) *fakeGuest {
	return newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), routeFiles(t), func(cmd guestagent.Command) (agenttest.Process, error) {
		switch cmd.Path {
		case "ping":
			return agenttest.Exited(ping(cmd.Args[len(cmd.Args)-1])), nil
		case "cat":
			// After a failed gateway ping: the link and ARP table of a
			// captured guest whose gateway is resolved.
			return agenttest.Exited(evidenceStatus(t, "linux-arp-up-cat.txt")), nil
		case "ip":
			// The gateway's neighbour entry: REACHABLE (busybox ip).
			return agenttest.Exited(evidenceStatus(t, "linux-neigh4-reachable-busybox.txt")), nil
		case "arping":
			// busybox ip printed no confirmation time: the gateway
			// answers a fresh ARP request.
			return agenttest.Exited(arpingStatus(t, true)), nil
		}
		return unexpectedExec(t, cmd)
	})
}

// arpingStatus is the status of busybox arping (osdetect's evidence)
// asking for the gateway: answered or not (testdata/neighbours
// linux-arping-*-busybox.txt), the answer's MAC that of the captured
// guest's gateway (the REACHABLE entry of linux-neigh4-reachable-busybox).
func arpingStatus(t *testing.T, answered bool) guestagent.ExecStatus {
	t.Helper()
	if !answered {
		st := evidenceStatus(t, "linux-arping-noanswer-busybox.txt")
		one := 1
		st.ExitCode = &one
		return st
	}
	st := evidenceStatus(t, "linux-arping-answered-busybox.txt")
	st.Stdout = []byte(strings.ReplaceAll(string(st.Stdout), "52:54:00:0c:ff:01", "22:d1:0b:1e:69:ba"))
	return st
}

// evidenceStatus is the status of the evidence command (osdetect) that
// printed a captured output of testdata/neighbours, its device renamed to
// the captured guest's tap0.
func evidenceStatus(t *testing.T, file string) guestagent.ExecStatus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "neighbours", file))
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	if errb, err := os.ReadFile(filepath.Join("..", "testdata", "neighbours", strings.TrimSuffix(file, ".txt")+".stderr.txt")); err == nil {
		code = 1
		return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: []byte(strings.ReplaceAll(string(b), "eth0", "tap0")), Stderr: errb}
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: []byte(strings.ReplaceAll(string(b), "eth0", "tap0"))}
}

// The captured guest (testdata/qga/linux-basic.jsonl) has tap0 with MAC
// 52:54:00:0c:00:13, 192.0.2.13/24, default route via 192.0.2.1.
var capturedNIC = model.NIC{MAC: "52:54:00:0c:00:13", Device: "vnet0", Model: "virtio", SourceType: "bridge", Source: "vcpub0", Bridge: "vcpub0"}

func runningDomain(g *fakeGuest, nics ...model.NIC) model.Domain {
	return model.Domain{Name: "vm", UUID: "6f1c2a84-0000-4000-8000-000000000001", State: model.Running, BootID: "6f1c/1",
		Channel: model.ChannelConnected, NICs: nics, Agent: g.agent}
}

func testConfig() settings.Config {
	return settings.Config{External: []netip.Addr{netip.MustParseAddr("203.0.113.10")}, Timeout: config.Duration(5 * time.Second), PingTimeout: config.Duration(time.Second)}
}

func TestCheckHealthyLinux(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	r := New(testConfig()).Check(context.Background(), runningDomain(g, capturedNIC))
	if r.State != model.StateOK || r.Agent.State != model.AgentOK || r.Reason != "" {
		t.Fatalf("state %q agent %q reason %q, want ok", r.State, r.Agent.State, r.Reason)
	}
	if r.OS.Family != "linux" || r.OS.ID != "debian" || r.OS.Source != "osinfo" {
		t.Errorf("os = %+v, want linux/debian from osinfo", r.OS)
	}
	if r.Agent.Version != "7.2.22" {
		t.Errorf("agent version = %q", r.Agent.Version)
	}
	n := r.NICs[0]
	if n.Gateway != "192.0.2.1" || n.GatewaySource != "guest-proc-route" || n.NetworkType != settings.NetworkExternal {
		t.Errorf("nic = %+v, want gateway 192.0.2.1 from guest-proc-route, external", n)
	}
	if len(n.IPs) == 0 || n.IPs[0] != "192.0.2.13" || n.GuestName != "tap0" {
		t.Errorf("nic addresses = %v name %q", n.IPs, n.GuestName)
	}
	if len(r.Probes) != 2 {
		t.Fatalf("probes = %+v, want external + gateway", r.Probes)
	}
	for _, p := range r.Probes {
		if !p.OK || p.Status != model.ProbePassed || p.RTT <= 0 {
			t.Errorf("probe %+v, want passed with an RTT", p)
		}
	}
	if r.Probes[1].Kind != model.ProbeGateway || r.Probes[1].NIC != capturedNIC.MAC {
		t.Errorf("gateway probe = %+v", r.Probes[1])
	}
}

func TestCheckOutcomes(t *testing.T) {
	replyV4 := "linux-iputils-reply-v4.txt"
	tests := []struct {
		name      string
		ping      map[string][2]any // target → exit, output file
		want      model.State
		wantProbe map[string]model.ProbeStatus
	}{
		{"external lost", map[string][2]any{"203.0.113.10": {1, "linux-iputils-noreply-v4.txt"}, "192.0.2.1": {0, replyV4}},
			model.StateDegraded, map[string]model.ProbeStatus{"203.0.113.10": model.ProbeFailed, "192.0.2.1": model.ProbePassed}},
		{"all lost", map[string][2]any{"203.0.113.10": {1, "linux-iputils-noreply-v4.txt"}, "192.0.2.1": {1, "linux-iputils-host-unreachable.txt"}},
			model.StateDown, map[string]model.ProbeStatus{"203.0.113.10": model.ProbeFailed, "192.0.2.1": model.ProbeFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newLinuxGuest(t, func(target string) guestagent.ExecStatus {
				p := tt.ping[target]
				return pingStatus(t, p[0].(int), p[1].(string))
			})
			r := New(testConfig()).Check(context.Background(), runningDomain(g, capturedNIC))
			if r.State != tt.want {
				t.Errorf("state = %q (%s), want %q", r.State, r.Reason, tt.want)
			}
			for _, p := range r.Probes {
				if want := tt.wantProbe[p.Target]; p.Status != want {
					t.Errorf("probe %s = %q, want %q", p.Target, p.Status, want)
				}
			}
			if r.Reason == "" {
				t.Error("no reason for a state that is not ok")
			}
		})
	}
}

func TestCheckExecDisabled(t *testing.T) {
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus {
		t.Error("ping run on an agent that blocks guest-exec")
		return guestagent.ExecStatus{}
	})
	g.answers["guest-info"] = agenttest.Load(t, qga+"linux-exec-disabled.jsonl").Answer
	r := New(testConfig()).Check(context.Background(), runningDomain(g, capturedNIC))
	if r.State != model.StateUnknown || r.Agent.State != model.AgentExecDisabled {
		t.Fatalf("state %q agent %q, want unknown/exec_disabled", r.State, r.Agent.State)
	}
	if !strings.Contains(r.Reason, "allow guest-exec and guest-exec-status") {
		t.Errorf("reason %q does not say what to do", r.Reason)
	}
	if r.OS.ID != "debian" || r.NICs[0].Gateway != "192.0.2.1" {
		t.Errorf("exec-disabled guest should still report OS and gateway: %+v %+v", r.OS, r.NICs[0])
	}
}

func TestCheckNoExternalConfigured(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	cfg := testConfig()
	cfg.External = nil
	r := New(cfg).Check(context.Background(), runningDomain(g, capturedNIC))
	if r.State != model.StateOK {
		t.Errorf("state = %q (%s), want ok", r.State, r.Reason)
	}
	if r.Probes[0].Kind != model.ProbeExternal || r.Probes[0].Status != model.ProbeNotConfigured {
		t.Errorf("first probe = %+v, want external not_configured", r.Probes[0])
	}
}

func TestCheckGatewaySources(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	override := netip.MustParseAddr("192.0.2.254")
	cfg := testConfig()
	cfg.Networks = map[string]settings.NetworkConfig{
		"vcpub0":       {Gateway: &override},
		"lab-internal": {Type: settings.NetworkInternal},
	}
	internal := model.NIC{MAC: "52:54:00:0c:00:99", SourceType: "network", Source: "lab-internal",
		NetworkAddrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}}
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	r := New(cfg).Check(context.Background(), runningDomain(g, capturedNIC, internal))
	if n := r.NICs[0]; n.Gateway != "192.0.2.254" || n.GatewaySource != "config" || n.NetworkType != settings.NetworkExternal {
		t.Errorf("public nic = %+v, want the config override, external by default route", n)
	}
	if n := r.NICs[1]; n.Gateway != "198.51.100.1" || n.GatewaySource != "libvirt-network" || n.NetworkType != settings.NetworkInternal {
		t.Errorf("internal nic = %+v, want 198.51.100.1 from libvirt-network, internal", n)
	}
	var targets []string
	for _, p := range r.Probes {
		targets = append(targets, p.Target)
	}
	if got := strings.Join(targets, ","); got != "203.0.113.10,192.0.2.254,198.51.100.1" {
		t.Errorf("probe targets = %s", got)
	}
}

func TestCheckWindows(t *testing.T) {
	routePrint := agenttest.Load(t, qga+"windows-route-print.jsonl").ExecStatus()
	g := newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), nil, func(cmd guestagent.Command) (agenttest.Process, error) {
		switch target := cmd.Args[len(cmd.Args)-1]; {
		case cmd.Path == "route.exe":
			return agenttest.Exited(routePrint), nil
		case cmd.Path == "ping.exe" && target == "192.0.2.1":
			return agenttest.Exited(pingStatus(t, 0, "windows-reply-v4.txt")), nil
		case cmd.Path == "ping.exe" && target == "198.51.100.77":
			// ping.exe exits 0 on "Destination host unreachable".
			return agenttest.Exited(pingStatus(t, 0, "windows-host-unreachable-exit0.txt")), nil
		}
		return unexpectedExec(t, cmd)
	})
	g.answers["guest-get-osinfo"] = agenttest.Load(t, qga+"windows-osinfo-server2022.jsonl").Answer
	cfg := testConfig()
	cfg.External = []netip.Addr{netip.MustParseAddr("198.51.100.77")}
	r := New(cfg).Check(context.Background(), runningDomain(g, capturedNIC))
	if r.OS.Family != "windows" || r.OS.ID != "mswindows" {
		t.Errorf("os = %+v, want windows/mswindows", r.OS)
	}
	if n := r.NICs[0]; n.Gateway != "192.0.2.1" || n.GatewaySource != "guest-route-print" {
		t.Errorf("nic = %+v, want 192.0.2.1 from guest-route-print", n)
	}
	if r.State != model.StateDegraded {
		t.Errorf("state = %q (%s), want degraded: the external target answered only 'destination host unreachable'", r.State, r.Reason)
	}
	for _, p := range r.Probes {
		if p.Kind == model.ProbeExternal && (p.OK || p.Status != model.ProbeFailed) {
			t.Errorf("gateway probe %+v taken as a reply", p)
		}
	}
}

func TestCheckAgentProblems(t *testing.T) {
	noCall := agenttest.New(func(cmd string, _ json.RawMessage) (any, error) {
		t.Errorf("agent called (%s) for a domain whose channel state rules it out", cmd)
		return nil, guestagent.ErrUnresponsive
	})
	frozen := agenttest.NewContext(func(ctx context.Context, _ string, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("agent call: %w: %w", guestagent.ErrUnresponsive, ctx.Err())
	})
	unresponsive := agenttest.New(func(string, json.RawMessage) (any, error) {
		return nil, fmt.Errorf("libvirt: %w", guestagent.ErrUnresponsive)
	})
	tests := []struct {
		name      string
		d         model.Domain
		state     model.State
		agent     model.AgentState
		reasonHas string
	}{
		{"paused", model.Domain{State: model.Paused, Channel: model.ChannelConnected, Agent: noCall}, model.StatePaused, model.AgentOK, "paused"},
		{"no channel", model.Domain{State: model.Running, Channel: model.ChannelNone, Agent: noCall}, model.StateUnknown, model.AgentNoChannel, "org.qemu.guest_agent.0"},
		{"disconnected", model.Domain{State: model.Running, Channel: model.ChannelDisconnected, Agent: noCall}, model.StateUnknown, model.AgentDisconnected, "not running in the guest"},
		{"unresponsive", model.Domain{State: model.Running, Channel: model.ChannelConnected, Agent: unresponsive}, model.StateUnknown, model.AgentUnresponsive, "does not answer"},
		{"frozen", model.Domain{State: model.Running, Channel: model.ChannelConnected, Agent: frozen}, model.StateUnknown, model.AgentUnresponsive, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			r := New(testConfig()).Check(ctx, tt.d)
			if r.State != tt.state || r.Agent.State != tt.agent || !strings.Contains(r.Reason, tt.reasonHas) {
				t.Errorf("got %q/%q %q, want %q/%q mentioning %q", r.State, r.Agent.State, r.Reason, tt.state, tt.agent, tt.reasonHas)
			}
		})
	}
}

// TestCheckAllIsolation checks that a frozen agent ends at its own deadline
// and does not stop the other domains from being checked.
func TestCheckAllIsolation(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	frozen := agenttest.NewContext(func(ctx context.Context, _ string, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %w", guestagent.ErrUnresponsive, ctx.Err())
	})
	cfg := testConfig()
	cfg.Timeout = config.Duration(300 * time.Millisecond)
	cfg.PingTimeout = config.Duration(100 * time.Millisecond)
	cfg.Concurrency = 2
	var doms []model.Domain
	for i := range 5 {
		g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
		d := runningDomain(g, capturedNIC)
		d.Name, d.UUID, d.BootID = fmt.Sprintf("vm-%d", i), fmt.Sprint(i), fmt.Sprint(i)
		doms = append(doms, d)
	}
	doms[2].Agent = frozen
	results := New(cfg).CheckAll(context.Background(), doms)
	if len(results) != 5 {
		t.Fatalf("got %d results", len(results))
	}
	for _, r := range results {
		want := model.StateOK
		if r.Name == "vm-2" {
			want = model.StateUnknown
		}
		if r.State != want {
			t.Errorf("%s: %q (%s), want %q", r.Name, r.State, r.Reason, want)
		}
	}
}

func TestCheckCachesOSPerBoot(t *testing.T) {
	reply := pingStatus(t, 0, "linux-iputils-reply-v4.txt")
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return reply })
	c := New(testConfig())
	d := runningDomain(g, capturedNIC)
	c.Check(context.Background(), d)
	c.Check(context.Background(), d)
	if n := g.agent.Calls("guest-get-osinfo"); n != 1 {
		t.Errorf("guest-get-osinfo called %d times in two rounds of one boot, want 1", n)
	}
	d.BootID = "6f1c/2" // rebooted
	c.Check(context.Background(), d)
	if got := g.agent.Calls("guest-get-osinfo"); got != 2 {
		t.Errorf("after a reboot guest-get-osinfo calls = %d, want 2", got)
	}
}
