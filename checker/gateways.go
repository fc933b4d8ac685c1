package checker

import (
	"net/netip"
	"sync"
)

// SourceEarlierRound is the gateway source of a gateway remembered from an
// earlier check of the same boot: the guest lost its route or address, the
// gateway is still probed and the failure diagnosed.
const SourceEarlierRound = "earlier-round"

// maxRememberedGateways bounds what one Checker remembers: one entry per
// (boot, NIC) it has seen, forgotten with the boot.
const maxRememberedGateways = 65536

// gatewayMemory remembers the last gateway of each NIC per domain boot.
type gatewayMemory struct {
	mu sync.Mutex
	m  map[gatewayKey]netip.Addr
}

type gatewayKey struct{ boot, mac string }

// recallGateways remembers the gateways this check found and fills in, for
// a NIC without one, the gateway an earlier check of the same boot found.
func (c *Checker) recallGateways(f *facts) {
	if f.d.BootID == "" {
		return
	}
	g := &c.gateways
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[gatewayKey]netip.Addr)
	}
	for i := range f.nics {
		nf := &f.nics[i]
		k := gatewayKey{f.d.BootID, nf.mac.String()}
		switch {
		case nf.gateway.IsValid() && nf.gatewaySource != SourceEarlierRound:
			if _, ok := g.m[k]; ok || len(g.m) < maxRememberedGateways {
				g.m[k] = nf.gateway
			}
		case !nf.gateway.IsValid():
			if gw, ok := g.m[k]; ok {
				nf.gateway, nf.gatewaySource = gw, SourceEarlierRound
			}
		}
	}
}

// forget drops the gateways of boots not in keep.
func (g *gatewayMemory) forget(keep map[string]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.m {
		if !keep[k.boot] {
			delete(g.m, k)
		}
	}
}
