package checker

import (
	"cmp"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
)

// TestDiagnose runs whole checks of the captured Linux guest (tap0,
// 192.0.2.13/24, default route via 192.0.2.1) with faults of each layer and
// checks the first cause, its layer and NIC, and how many evidence commands
// the guest had to run (at most one, none when nothing failed).
func TestDiagnose(t *testing.T) {
	reply := "linux-iputils-reply-v4.txt"
	tests := []struct {
		name     string
		nic      func(*model.NIC)
		gwExit   int        // the gateway ping's exit code
		extExit  int        // the external ping's
		evidence string     // testdata/neighbours file the link evidence command (cat) prints
		neigh    string     // the file ip neigh prints (default: the gateway REACHABLE, busybox)
		want     model.Code // "" for none
		execs    int        // evidence commands run (0: none, else at least one)
		noRoutes bool       // the guest has no default route
		only     bool       // the first cause is the only one
		detail   string     // part of the first detail
	}{
		{name: "healthy", want: "", execs: 0},
		{name: "host link down", nic: func(n *model.NIC) { n.LinkDown = true }, gwExit: 1, extExit: 1,
			want: model.CodeHostLinkDown, detail: "virsh domif-setlink vm vnet0 up"},
		{name: "host tap down", nic: func(n *model.NIC) { n.Host = fakeHost{hs: tapDownSide} }, gwExit: 1, extExit: 1,
			want: model.CodeHostTapDown, detail: "ip link set vnet0 master vcpub0 up"},
		{name: "host side unknown: no host cause", nic: func(n *model.NIC) { n.Host = fakeHost{hs: model.HostSide{Note: "not here", Fault: tapDownSide.Fault}} },
			gwExit: 1, extExit: 1, evidence: "linux-arp-up-cat.txt", want: model.CodeGatewayICMPFiltered, execs: 1},
		{name: "a host fault of another layer is no host cause", nic: func(n *model.NIC) {
			n.Host = fakeHost{hs: model.HostSide{Known: true, Fault: &model.HostFault{Code: model.CodeGatewayUnresolved, Detail: "x"}}}
		}, gwExit: 1, extExit: 1, evidence: "linux-arp-up-cat.txt", want: model.CodeGatewayICMPFiltered, execs: 1},
		{name: "gateway not resolved", gwExit: 1, extExit: 1, evidence: "linux-arp-incomplete-cat.txt",
			nic: func(n *model.NIC) {
				n.Gateways = []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.254"), Source: "config"}}
			},
			want: model.CodeGatewayUnresolved, execs: 1, detail: "192.0.2.254"},
		{name: "no default route", gwExit: 1, extExit: 1, noRoutes: true, evidence: "linux-arp-up-cat.txt",
			nic: func(n *model.NIC) {
				n.Gateways = []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.1"), Source: "proxmox"}}
			},
			want: model.CodeGuestNoDefaultRoute, execs: 1, detail: "192.0.2.1 (from proxmox)"},
		{name: "no route: the external fails locally, not upstream", gwExit: 0, extExit: 1, noRoutes: true,
			nic: func(n *model.NIC) {
				n.Gateways = []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.1"), Source: "proxmox"}}
			},
			want: model.CodeGuestNoDefaultRoute, execs: 0, only: true},
		{name: "interface down, so no route", gwExit: 1, extExit: 1, noRoutes: true, evidence: "linux-arp-down-cat.txt", neigh: "linux-neigh4-down-busybox.txt",
			nic: func(n *model.NIC) {
				n.Gateways = []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.1"), Source: "proxmox"}}
			},
			want: model.CodeGuestLinkDown, execs: 1, only: true},
		{name: "gateway resolved, echo dropped", gwExit: 1, extExit: 1, evidence: "linux-arp-up-cat.txt",
			want: model.CodeGatewayICMPFiltered, execs: 1, detail: "22:d1:0b:1e:69:ba"},
		{name: "guest interface down", gwExit: 1, extExit: 1, evidence: "linux-arp-down-cat.txt", neigh: "linux-neigh4-down-busybox.txt",
			want: model.CodeGuestLinkDown, execs: 1},
		{name: "upstream", gwExit: 0, extExit: 1, want: model.CodeUpstreamUnreachable, execs: 0, detail: "beyond the gateway"},
		{name: "address mismatch", gwExit: 1, extExit: 1, evidence: "linux-arp-up-cat.txt",
			nic: func(n *model.NIC) {
				n.Expected = []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.99"), Source: "nova"}}
			},
			want: model.CodeGuestAddressMismatch, detail: "nova assigned 192.0.2.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := capturedNIC
			if tt.nic != nil {
				tt.nic(&nic)
			}
			execs := 0
			files := routeFiles(t)
			if tt.noRoutes {
				files["/proc/net/route"] = []byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
				files["/proc/net/ipv6_route"] = nil
			}
			g := newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), files, func(cmd guestagent.Command) (agenttest.Process, error) {
				switch {
				case cmd.Path == "cat":
					execs++
					return agenttest.Exited(evidenceStatus(t, tt.evidence)), nil
				case cmd.Path == "ip":
					execs++
					return agenttest.Exited(evidenceStatus(t, cmp.Or(tt.neigh, "linux-neigh4-reachable-busybox.txt"))), nil
				case cmd.Path == "arping":
					execs++
					return agenttest.Exited(arpingStatus(t, true)), nil
				case cmd.Path != "ping":
					return unexpectedExec(t, cmd)
				case cmd.Args[len(cmd.Args)-1] == "203.0.113.10":
					return agenttest.Exited(pingExit(t, tt.extExit, reply)), nil
				}
				return agenttest.Exited(pingExit(t, tt.gwExit, reply)), nil
			})
			r := New(testConfig()).Check(context.Background(), runningDomain(g, nic))
			if tt.want == "" {
				if r.State != model.StateOK || len(r.Diagnosis) != 0 || execs != 0 {
					t.Errorf("state %s, diagnosis %+v, %d evidence commands; want ok, none, none", r.State, r.Diagnosis, execs)
				}
				return
			}
			if len(r.Diagnosis) == 0 {
				t.Fatalf("state %s (%s): no diagnosis, want %s", r.State, r.Reason, tt.want)
			}
			d := r.Diagnosis[0]
			if d.Code != tt.want || d.Layer != model.Codes[tt.want] || d.NIC != nic.MAC || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("first cause %+v, want %s (%s) on %s with %q in the detail; all: %+v", d, tt.want, model.Codes[tt.want], nic.MAC, tt.detail, r.Diagnosis)
			}
			if tt.only && len(r.Diagnosis) != 1 {
				t.Errorf("diagnosis %+v, want only %s", r.Diagnosis, tt.want)
			}
			if execs > osdetect.MaxEvidenceCommands || (tt.execs == 0 && execs != 0) {
				t.Errorf("%d evidence commands, want %d", execs, tt.execs)
			}
		})
	}
}

// pingExit is a finished ping with the given exit code; its output is the
// reply file for 0 and the captured "no reply" output otherwise.
func pingExit(t *testing.T, exit int, reply string) guestagent.ExecStatus {
	if exit == 0 {
		return pingStatus(t, 0, reply)
	}
	return pingStatus(t, exit, "linux-iputils-noreply-v4.txt")
}

// TestDiagnoseAgentCalls: a failing check that needs the evidence commands
// makes at most two guest-exec more than a healthy one, and their status
// reads, and a healthy one makes none for the diagnosis.
func TestDiagnoseAgentCalls(t *testing.T) {
	cmds := []string{"guest-ping", "guest-info", "guest-get-osinfo", "guest-network-get-interfaces", "guest-network-get-route",
		"guest-file-open", "guest-file-read", "guest-file-close", "guest-exec", "guest-exec-status"}
	calls := func(exit int) int {
		g := newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), routeFiles(t), func(cmd guestagent.Command) (agenttest.Process, error) {
			switch cmd.Path {
			case "cat":
				return agenttest.Exited(evidenceStatus(t, "linux-arp-incomplete-cat.txt")), nil
			case "ip":
				return agenttest.Exited(evidenceStatus(t, "linux-neigh4-failed-absent-busybox.txt")), nil
			}
			return agenttest.Exited(pingExit(t, exit, "linux-iputils-reply-v4.txt")), nil
		})
		r := New(testConfig()).Check(context.Background(), runningDomain(g, capturedNIC))
		if (exit == 0) != (len(r.Diagnosis) == 0) {
			t.Errorf("exit %d: diagnosis %+v", exit, r.Diagnosis)
		}
		n := 0
		for _, c := range cmds {
			n += g.agent.Calls(c)
		}
		return n
	}
	healthy, failing := calls(0), calls(1)
	if failing-healthy > 2*osdetect.MaxEvidenceCommands || failing <= healthy {
		t.Errorf("agent calls: healthy %d, failing %d; want at most %d more and at least one", healthy, failing, 2*osdetect.MaxEvidenceCommands)
	}
	t.Logf("agent calls: healthy check %d, failing check with evidence %d", healthy, failing)
}
