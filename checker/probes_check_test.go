package checker

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/probe"
	"github.com/vmcheck/vmcheck/probe/probetest"
)

// probeCapture is a real capture of testdata/probe/linux.
func probeCapture(t *testing.T, name string) guestagent.ExecStatus { return probetest.Linux(t, name) }

// curls counts the curl commands the policy guests ran.
var curls atomic.Int64

// newPolicyGuest is the captured Debian guest running the tools of the
// probe methods: pings (plain, with a count, don't-fragment) as reply
// answers them, getent and curl with the captures named.
func newPolicyGuest(t *testing.T, reply func(args []string) guestagent.ExecStatus, getent, curl string) *fakeGuest {
	files := routeFiles(t)
	files["/sys/class/net/tap0/mtu"] = []byte("1500\n")
	return newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), files, func(cmd guestagent.Command) (agenttest.Process, error) {
		switch cmd.Path {
		case "ping":
			return agenttest.Exited(reply(cmd.Args)), nil
		case "getent":
			return agenttest.Exited(probeCapture(t, getent)), nil
		case "curl":
			curls.Add(1)
			return agenttest.Exited(probeCapture(t, curl)), nil
		}
		return unexpectedExec(t, cmd)
	})
}

func fullPolicy(t *testing.T) policy.Policy {
	t.Helper()
	var specs []probe.Spec
	for _, f := range []string{"icmp,count=5", "mtu", "dns,name=localhost", "tcp,target=203.0.113.10:80", "http,url=http://203.0.113.10/"} {
		s, err := probe.ParseFlag(f)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, s)
	}
	return policy.Policy{Probes: specs}
}

// TestCheckFullPolicy: a healthy guest with the full policy is ok with
// every method's probe, and in the steady state its check makes at most
// two agent calls per method added to the default check's.
func TestCheckFullPolicy(t *testing.T) {
	reply := func([]string) guestagent.ExecStatus { return probeCapture(t, "iputils-count5") }
	steady := func(p policy.Policy) (model.Result, int) {
		g := newPolicyGuest(t, reply, "getent-ahosts-ok", "curl-200")
		c := New(testConfig())
		d := runningDomain(g, capturedNIC)
		d.Policy = p
		c.Check(context.Background(), d)
		before := agentCalls(g)
		r := c.Check(context.Background(), d)
		return r, agentCalls(g) - before
	}
	def, defCalls := steady(policy.Policy{})
	curls.Store(0)
	full, fullCalls := steady(fullPolicy(t))
	if def.State != model.StateOK || full.State != model.StateOK {
		t.Fatalf("states %s (%s), %s (%s); want ok", def.State, def.Reason, full.State, full.Reason)
	}
	methods := map[string]bool{}
	for _, p := range full.Probes {
		methods[p.Method] = p.Status == model.ProbePassed
		if p.Method == "icmp" && (p.Sent != 5 || p.Loss == nil) {
			t.Errorf("icmp probe %+v: want 5 sent and a loss ratio", p)
		}
	}
	for _, m := range []string{"icmp", "mtu", "dns", "tcp", "http"} {
		if !methods[m] {
			t.Errorf("no passed %s probe in %+v", m, full.Probes)
		}
	}
	if n := curls.Load(); n != 2 {
		t.Errorf("%d curl commands over two checks, want 2: the tcp probe of :80 and the http probe of the same host share one", n)
	}
	if fullCalls > defCalls+2*4 {
		t.Errorf("steady state: full policy %d agent calls, default %d: over default + 2 per added method", fullCalls, defCalls)
	}
	t.Logf("steady-state agent calls: default %d, full policy %d", defCalls, fullCalls)
}

// TestCheckPolicyCauses: each method's cause reaches the diagnosis, the
// VM stays degraded (the pings pass), and a missing tool is never down.
func TestCheckPolicyCauses(t *testing.T) {
	ok := func([]string) guestagent.ExecStatus { return probeCapture(t, "iputils-count5") }
	tests := []struct {
		name         string
		reply        func([]string) guestagent.ExecStatus
		getent, curl string
		state        model.State
		code         model.Code
	}{
		{"tcp filtered", ok, "getent-ahosts-ok", "curl-timeout", model.StateDegraded, model.CodeTCPFiltered},
		{"tcp refused", ok, "getent-ahosts-ok", "curl-refused", model.StateDegraded, model.CodeTCPRefused},
		{"http 404", ok, "getent-ahosts-ok", "curl-404", model.StateDegraded, model.CodeHTTPFailure},
		{"dns", ok, "getent-ahosts-notfound", "curl-200", model.StateDegraded, model.CodeDNSFailure},
		{"loss", func(args []string) guestagent.ExecStatus {
			if strings.Contains(strings.Join(args, " "), "-c 5") {
				return probeCapture(t, "iputils-count6-loss")
			}
			return probeCapture(t, "iputils-count5")
		}, "getent-ahosts-ok", "curl-200", model.StateDegraded, model.CodePacketLoss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newPolicyGuest(t, tt.reply, tt.getent, tt.curl)
			d := runningDomain(g, capturedNIC)
			d.Policy = fullPolicy(t)
			loose := 0.2
			d.Policy.Probes[0].MaxLoss = &loose
			r := New(testConfig()).Check(context.Background(), d)
			if r.State != tt.state || len(r.Diagnosis) == 0 || r.Diagnosis[0].Code != tt.code {
				t.Fatalf("state %s, diagnosis %+v (%s); want %s with %s", r.State, r.Diagnosis, r.Reason, tt.state, tt.code)
			}
			if r.Diagnosis[0].Layer != model.LayerNetwork || r.Diagnosis[0].Detail == "" {
				t.Errorf("diagnosis %+v: want the network layer and a detail", r.Diagnosis[0])
			}
		})
	}
}

// TestDomainWarningsInReason: what the source warned of reaches the
// result's reason as a note, for a healthy VM too.
func TestDomainWarningsInReason(t *testing.T) {
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return pingStatus(t, 0, "linux-iputils-reply-v4.txt") })
	d := runningDomain(g, capturedNIC)
	d.Warnings = []string{"VM 201 reports UUID x, which VM 202 also reports"}
	r := New(testConfig()).Check(context.Background(), d)
	if r.State != model.StateOK || !strings.Contains(r.Reason, "note: VM 201 reports UUID x") {
		t.Fatalf("state %s, reason %q: want ok with the warning as a note", r.State, r.Reason)
	}
}

// TestExternalIsGuestAddress: an external target the guest holds itself
// is not pinged (it would always answer): the probe says why and the VM
// is not ok on its strength.
func TestExternalIsGuestAddress(t *testing.T) {
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus { return pingStatus(t, 0, "linux-iputils-reply-v4.txt") })
	d := runningDomain(g, capturedNIC)
	r := New(testConfig()).Check(context.Background(), d)
	var own string
	for _, n := range r.NICs {
		for _, ip := range n.IPs {
			if !strings.Contains(ip, ":") {
				own = ip
			}
		}
	}
	if own == "" {
		t.Fatal("the captured guest has no IPv4 address")
	}
	cfg := testConfig()
	cfg.External = []netip.Addr{netip.MustParseAddr(own)}
	r = New(cfg).Check(context.Background(), d)
	for _, p := range r.Probes {
		if p.Kind == model.ProbeExternal && (p.Status != model.ProbeError || !strings.Contains(p.Error, "the guest holds this address")) {
			t.Errorf("external probe of the guest's own %s: %+v", own, p)
		}
	}
	if r.State == model.StateOK {
		t.Errorf("state ok with only the guest's own address as external target (%s)", r.Reason)
	}
}
