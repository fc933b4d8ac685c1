package checker

import (
	"bufio"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
)

// matchInput is a domain's NICs, the guest's interfaces and its default
// routes, read from lines:
//
//	nic MAC
//	if NAME MAC ADDR/BITS…
//	route IFACE IFADDR MAC GATEWAY
//
// where "-" stands for an empty field.
type matchInput struct {
	nics   []model.NICResult
	ifaces []guestagent.Interface
	routes []osdetect.DefaultRoute
}

func parseMatchInput(s string) matchInput {
	var in matchInput
	field := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "nic":
			in.nics = append(in.nics, model.NICResult{MAC: guestagent.MAC(field(f[1])), IPs: []string{}})
		case len(f) >= 3 && f[0] == "if":
			gi := guestagent.Interface{Name: field(f[1]), MAC: guestagent.MAC(field(f[2]))}
			for _, a := range f[3:] {
				if p, err := netip.ParsePrefix(a); err == nil {
					gi.Addrs = append(gi.Addrs, p)
				}
			}
			in.ifaces = append(in.ifaces, gi)
		case len(f) == 5 && f[0] == "route":
			rt := osdetect.DefaultRoute{Interface: field(f[1]), MAC: field(f[3])}
			rt.InterfaceAddr, _ = netip.ParseAddr(f[2])
			rt.Gateway, _ = netip.ParseAddr(f[4])
			in.routes = append(in.routes, rt)
		}
	}
	return in
}

// largeMatchInput is a guest at the guestagent caps (256 interfaces of 64
// addresses) sharing the MAC of one of nics NICs, with routes default
// routes whose interface address matches none of them.
func largeMatchInput(nics, routes int) string {
	var b strings.Builder
	for i := range nics {
		fmt.Fprintf(&b, "nic 52:54:00:00:00:%02x\n", i&0xff)
	}
	for i := range 256 {
		fmt.Fprintf(&b, "if eth%d 52:54:00:00:00:00", i)
		for j := range 64 {
			fmt.Fprintf(&b, " 10.%d.%d.1/24", i, j)
		}
		b.WriteByte('\n')
	}
	for i := range routes {
		fmt.Fprintf(&b, "route - 192.0.2.%d - 192.0.2.1\n", i&0xff)
	}
	return b.String()
}

// FuzzMatchInterfaces checks attachGuestInterfaces and routeNIC, which join
// the domain's NICs to the guest's interfaces and routes by MAC, name and
// address: no panic; a NIC gets exactly the non-loopback addresses of the
// guest interfaces with its MAC, in order, and the name of the last of
// them; a route is put on a NIC only when their MACs match.
func FuzzMatchInterfaces(f *testing.F) {
	f.Add("nic 52:54:00:0c:00:11\nnic 52:54:00:0c:00:12\n" +
		"if lo - 127.0.0.1/8 ::1/128\nif eth0 52:54:00:0c:00:11 192.0.2.11/24 fe80::5054:ff:fe0c:11/64\nif eth1 52:54:00:0C:00:12 198.51.100.12/24\n" +
		"route eth0 - - 192.0.2.1\nroute - 198.51.100.12 - 198.51.100.1\nroute - - 52:54:00:0c:00:12 fe80::1\n")
	f.Add("nic -\nif eth0 - 192.0.2.1/24\nroute eth0 - - 192.0.2.1\n")
	f.Add("nic 52:54:00:0c:00:11\nif eth0 52:54:00:0c:00:11 192.0.2.1/24\nif eth0.10 52:54:00:0c:00:11 10.0.0.1/8\nroute eth0.10 - - 10.0.0.254\n")
	f.Add(largeMatchInput(8, 1000))
	f.Add(strings.Repeat("\n", 1<<20))
	f.Add(strings.Repeat("nic 52:54:00:0c:00:11\n", (1<<20)/22))
	f.Fuzz(func(t *testing.T, s string) {
		in := parseMatchInput(s)
		nics := nicFactsOf(in.nics)
		attachGuestInterfaces(nics, in.ifaces)
		for i, n := range nics {
			want, name := []string{}, ""
			for _, gi := range in.ifaces {
				if gi.MAC == "" || !strings.EqualFold(gi.MAC.String(), n.mac.String()) {
					continue
				}
				name = gi.Name
				for _, p := range gi.Addrs {
					if !p.Addr().IsLoopback() {
						want = append(want, p.Addr().String())
					}
				}
			}
			ips := []string{}
			for _, a := range n.addrs {
				ips = append(ips, a.String())
			}
			if !slices.Equal(ips, want) || n.guestName != name {
				t.Errorf("NIC %d (%s): name %q, IPs %v; want %q, %v", i, n.mac, n.guestName, ips, name, want)
			}
		}
		for _, rt := range in.routes {
			i := newIfaceIndex(in.ifaces).routeNIC(rt, nics)
			if i < -1 || i >= len(nics) {
				t.Fatalf("routeNIC(%+v) = %d of %d NICs", rt, i, len(nics))
			}
			if i < 0 {
				continue
			}
			if rt.MAC != "" && !strings.EqualFold(rt.MAC, nics[i].mac.String()) {
				t.Errorf("routeNIC(%+v) = NIC %d (%s)", rt, i, nics[i].mac)
			}
			found := rt.MAC != ""
			for _, gi := range in.ifaces {
				if strings.EqualFold(gi.MAC.String(), nics[i].mac.String()) && (gi.Name == rt.Interface || slices.ContainsFunc(gi.Addrs, func(p netip.Prefix) bool { return p.Addr() == rt.InterfaceAddr })) {
					found = true
				}
			}
			if !found {
				t.Errorf("routeNIC(%+v) = NIC %d (%s), which no interface of the route has", rt, i, nics[i].mac)
			}
		}
	})
}

// BenchmarkMatchInterfacesLarge joins a guest at the guestagent caps (256
// interfaces × 64 addresses, one MAC) to 8 NICs and to 1024, 4096 or
// 16384 Windows default routes (route.exe print is parsed up to
// maxRouteLines, 16384 lines, about 600 KiB of such rows) whose interface
// address matches nothing: each route is one lookup in an index built once,
// so the cost is routes + addresses (it was routes × addresses).
func BenchmarkMatchInterfacesLarge(b *testing.B) {
	for _, routes := range []int{1024, 4096, 16384} {
		in := parseMatchInput(largeMatchInput(8, routes))
		b.Run(fmt.Sprintf("routes=%d", routes), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				nics := nicFactsOf(in.nics)
				attachGuestInterfaces(nics, in.ifaces)
				index := newIfaceIndex(in.ifaces)
				for _, rt := range in.routes {
					index.routeNIC(rt, nics)
				}
			}
		})
	}
}

// nicFactsOf starts discovery facts for NICs with the given MACs.
func nicFactsOf(nics []model.NICResult) []nicFacts {
	out := make([]nicFacts, len(nics))
	for i, n := range nics {
		out[i].mac = n.MAC
	}
	return out
}
