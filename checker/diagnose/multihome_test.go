package diagnose

import (
	"net/netip"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
)

// TestNoDefaultRouteMultiHomed: a NIC without a default route through it
// is guest_no_default_route only when the guest has no default route of
// that family at all; a second NIC of a multi-homed guest (its default
// route through the first) needs none.
func TestNoDefaultRouteMultiHomed(t *testing.T) {
	gw1, gw2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	nic := func(mac guestagent.MAC, name string, addr string, gw netip.Addr, def bool) NIC {
		return NIC{MAC: mac, GuestName: name, Addrs: []netip.Addr{netip.MustParseAddr(addr)}, Gateway: gw, GatewaySource: "config", DefaultRoute: def}
	}
	for _, tt := range []struct {
		name   string
		routes []osdetect.DefaultRoute
		want   model.Code
	}{
		{name: "the default route through the other NIC", routes: []osdetect.DefaultRoute{{Interface: "eth0", Gateway: gw1}}},
		{name: "no default route at all", want: model.CodeGuestNoDefaultRoute},
		{name: "only an IPv6 default route elsewhere", routes: []osdetect.DefaultRoute{{Interface: "eth0", Gateway: netip.MustParseAddr("2001:db8::1")}}, want: model.CodeGuestNoDefaultRoute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &Facts{InterfacesKnown: true, RoutesRead: true, RouteSource: "guest-proc-route", Routes: tt.routes, NICs: []NIC{
				nic("52:54:00:00:00:01", "eth0", "192.0.2.10", gw1, len(tt.routes) > 0 && tt.routes[0].Gateway.Is4()),
				nic("52:54:00:00:00:02", "eth1", "198.51.100.10", gw2, false),
			}}
			d := guestCause(f, &f.NICs[1])
			switch {
			case tt.want == "" && d != nil:
				t.Errorf("second NIC: %+v, want no guest cause", *d)
			case tt.want != "" && (d == nil || d.Code != tt.want):
				t.Errorf("second NIC: %v, want %s", d, tt.want)
			}
		})
	}
}
