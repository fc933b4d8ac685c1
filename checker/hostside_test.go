package checker

import (
	"context"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/model"
)

// fakeHost is a backend's HostInspector that answers hs and counts its
// calls.
type fakeHost struct {
	hs    model.HostSide
	calls *int
}

func (f fakeHost) InspectHost(context.Context) model.HostSide {
	if f.calls != nil {
		*f.calls++
	}
	return f.hs
}

// tapDownSide is a Linux bridge NIC whose tap is out of its bridge.
var tapDownSide = model.HostSide{Kind: model.HostKindBridge, Known: true, Facts: []string{"tap vnet0 up"},
	Fault: &model.HostFault{Code: model.CodeHostTapDown, Detail: "the tap vnet0 is in no bridge on the node, not in vcpub0: put it back (ip link set vnet0 master vcpub0 up)"}}

// TestHostSideOnFailureOnly: the host side is read only when a check
// failed, once per NIC, and lands in the result's NIC: an unknown one says
// "host side unknown (kind)".
func TestHostSideOnFailureOnly(t *testing.T) {
	for _, tt := range []struct {
		name  string
		exit  int
		hs    model.HostSide
		calls int
		note  string
	}{
		{name: "healthy", exit: 0, hs: tapDownSide, calls: 0},
		{name: "failed, unknown", exit: 1, hs: model.HostSide{Kind: model.HostKindVhostUser, Note: "no OVSDB"}, calls: 1, note: "host side unknown (vhostuser): no OVSDB"},
		{name: "failed, known", exit: 1, hs: model.HostSide{Kind: model.HostKindBridge, Known: true, Facts: []string{"tap vnet0 up"}}, calls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGuest(agenttest.Load(t, qga+"linux-basic.jsonl"), routeFiles(t), func(cmd guestagent.Command) (agenttest.Process, error) {
				if cmd.Path == "cat" {
					return agenttest.Exited(evidenceStatus(t, "linux-arp-up-cat.txt")), nil
				}
				return agenttest.Exited(pingExit(t, tt.exit, "linux-iputils-reply-v4.txt")), nil
			})
			nic := capturedNIC
			calls := 0
			nic.HostKind, nic.Host = tt.hs.Kind, fakeHost{hs: tt.hs, calls: &calls}
			r := New(testConfig()).Check(context.Background(), runningDomain(g, nic))
			if calls != tt.calls {
				t.Fatalf("the host side was read %d times, want %d (state %s)", calls, tt.calls, r.State)
			}
			got := r.NICs[0]
			if got.HostKind != tt.hs.Kind {
				t.Errorf("host_kind %q, want %q", got.HostKind, tt.hs.Kind)
			}
			if tt.calls == 0 {
				if got.HostSide != nil {
					t.Errorf("a healthy check carries a host side: %+v", got.HostSide)
				}
				return
			}
			if got.HostSide == nil || got.HostSide.Known != tt.hs.Known || got.HostSide.Note != tt.note {
				t.Errorf("host_side %+v, want known %v note %q", got.HostSide, tt.hs.Known, tt.note)
			}
			for _, d := range r.Diagnosis {
				if d.Layer == model.LayerHost {
					t.Errorf("host cause %+v from a host side without a fault", d)
				}
			}
		})
	}
}
