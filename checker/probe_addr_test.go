package checker

import (
	"net/netip"
	"testing"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// TestPlanProbesTypedTargets: every planned probe whose target is an
// address (external, gateway, address) carries it typed in Addr, the
// address Target names, so that outputs format it instead of parsing it
// back.
func TestPlanProbesTypedTargets(t *testing.T) {
	nics := []nicFacts{{
		mac: "52:54:00:aa:00:01", guestName: "eth0", gateway: netip.MustParseAddr("192.0.2.1"),
		addrs:    []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		expected: []model.ExpectedAddr{{Addr: netip.MustParseAddr("192.0.2.10"), Source: "config"}},
	}}
	plan := New(settings.Config{External: addrs("203.0.113.10", "2001:db8::7")}).planProbes(nics, nil, nil)
	kinds := map[model.ProbeKind]int{}
	for _, p := range plan {
		kinds[p.res.Kind]++
		if !p.res.Addr.IsValid() || p.res.Addr.String() != p.res.Target {
			t.Errorf("%s probe of %q: Addr %v, want the address Target names", p.res.Kind, p.res.Target, p.res.Addr)
		}
	}
	if kinds[model.ProbeExternal] != 2 || kinds[model.ProbeGateway] != 1 || kinds[model.ProbeAddress] != 1 {
		t.Errorf("planned %v, want 2 external, 1 gateway and 1 address probe", kinds)
	}
}
