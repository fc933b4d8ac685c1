package checker

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/vmcheck/vmcheck/checker/bootcache"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// ifaceSum fingerprints the guest's interface list (names, MACs,
// addresses): a change in it (an address lost or renewed, a NIC added)
// means the routes may have changed too.
func ifaceSum(ifaces []guestagent.Interface) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, gi := range ifaces {
		h.Write([]byte(gi.Name))
		h.Write([]byte{0})
		h.Write([]byte(gi.MAC))
		h.Write([]byte{0})
		for _, p := range gi.Addrs {
			b, _ := p.Addr().MarshalBinary()
			h.Write(b)
			binary.LittleEndian.PutUint64(buf[:], uint64(p.Bits()))
			h.Write(buf[:])
		}
		h.Write([]byte{1})
	}
	return h.Sum64()
}

// guestRoutes returns the guest's default routes and where they came
// from: those an earlier check of the boot read, when reuse allows it,
// the interface list is the one they were read with and the check that
// last used them passed (cached true); else read now, and remembered.
func (c *Checker) guestRoutes(ctx context.Context, f *facts, reuse bool) (routes []osdetect.DefaultRoute, source string, cached bool, err error) {
	boot := f.d.BootID
	if reuse && boot != "" && f.ifaces != nil {
		if r, ok := c.boots.Routes(boot); ok && r.Passed && r.Ifaces == f.ifaceSum {
			routes, source = r.Routes, r.Source
		}
		if source != "" {
			return routes, source, true, nil
		}
	}
	routes, source, err = osdetect.DefaultRoutesFewCalls(ctx, f.agent, f.os.Family, f.info)
	if err == nil && boot != "" && f.ifaces != nil {
		c.boots.SetRoutes(boot, bootcache.Routes{Routes: slices.Clip(routes), Source: source, Ifaces: f.ifaceSum})
	}
	return routes, source, false, err
}

// routesPassed records whether the check that planned its probes from
// the boot's remembered routes passed: only then may the next reuse them.
func (c *Checker) routesPassed(f *facts, passed bool) {
	if f.d.BootID == "" {
		return
	}
	c.boots.SetPassed(f.d.BootID, passed)
}

// rereadRoutes is for a check that planned its probes from remembered
// routes and did not pass: it reads the routes again (for the diagnosis
// and the next checks) and reports whether they change the targets the
// check pings, so that it pings again only then.
func (c *Checker) rereadRoutes(ctx context.Context, f *facts, extra []netip.Addr) (changed bool) {
	before := plannedTargets(c.planProbes(f.nics, f.routes, extra))
	for i := range f.nics {
		nf := &f.nics[i]
		nf.gateway, nf.gatewaySource, nf.networkType, nf.defaultRoute = netip.Addr{}, "", "", false
	}
	f.routes, f.routesRead, f.routesCached, f.routeSrc = nil, false, false, ""
	f.routeErr = f.truncated(c.resolveGateways(ctx, f, false))
	after := plannedTargets(c.planProbes(f.nics, f.routes, extra))
	return !slices.Equal(before, after)
}

// plannedTargets lists the addresses a plan pings, in order.
func plannedTargets(plan []plannedProbe) []netip.Addr {
	var out []netip.Addr
	for _, p := range plan {
		if p.target.IsValid() {
			out = append(out, p.target)
		}
	}
	return out
}
