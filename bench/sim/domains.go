package sim

import (
	"fmt"
	"net/netip"

	"github.com/vmcheck/vmcheck/model"
)

// FleetConfig describes a simulated host.
type FleetConfig struct {
	// N is the number of running domains.
	N int
	// Latency is every agent's latency (zero: DefaultLatency).
	Latency *Latency
	// External is the external target; it answers unless Silent is set.
	External netip.Addr
	// Silent makes the external target drop every echo request.
	Silent bool
	// BusyboxEvery makes every k-th guest a Busybox one (no os-release);
	// 0 makes them all Debian.
	BusyboxEvery int
	// Frozen lists the indexes of guests whose agent hangs.
	Frozen []int
	// Workers is libvirtd's max_workers (see Daemon); 0 means no limit.
	Workers int
}

// Fleet returns n simulated running domains named sim-0000, sim-0001, …, each
// with one NIC on a libvirt bridge and a connected agent channel, and
// their guests.
func Fleet(cfg FleetConfig) ([]model.Domain, []*Guest) {
	frozen := make(map[int]bool, len(cfg.Frozen))
	for _, i := range cfg.Frozen {
		frozen[i] = true
	}
	var daemon *Daemon
	if cfg.Workers > 0 {
		daemon = NewDaemon(cfg.Workers)
	}
	doms := make([]model.Domain, cfg.N)
	guests := make([]*Guest, cfg.N)
	for i := range cfg.N {
		gc := GuestConfig{Index: i, Latency: cfg.Latency, Frozen: frozen[i], Daemon: daemon}
		if cfg.BusyboxEvery > 0 && i%cfg.BusyboxEvery == cfg.BusyboxEvery-1 {
			gc.Personality = Busybox
		}
		if !cfg.Silent && cfg.External.IsValid() {
			gc.Answering = []netip.Addr{cfg.External}
		}
		g := NewGuest(gc)
		uuid := fmt.Sprintf("5e1d0000-0000-4000-8000-%012x", i)
		guests[i] = g
		doms[i] = model.Domain{
			Name:    fmt.Sprintf("sim-%04d", i),
			UUID:    uuid,
			State:   model.Running,
			BootID:  uuid + "/1",
			Channel: model.ChannelConnected,
			NICs: []model.NIC{{
				MAC: g.MAC(), Device: fmt.Sprintf("vnet%d", i), Model: "virtio",
				SourceType: "bridge", Source: "br0", Bridge: "br0",
			}},
			Agent: g,
		}
	}
	return doms, guests
}
