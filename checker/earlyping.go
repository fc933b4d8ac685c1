package checker

import (
	"context"
	"net/netip"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/probe"
)

// startedPing is a ping running in the guest: its pid and when its
// guest-exec returned.
type startedPing struct {
	pid     int64
	started time.Time
}

// startEarlyPings starts, before the routes are read, the pings of the
// external targets whose address family the boot's routes carried when
// an earlier check read them: their targets do not depend on the routes,
// so they run in the guest while the routes are read. It starts nothing
// when the routes will not be read (the remembered ones are reused) or
// none were ever read in this boot. A target the plan drops after all is
// waited for and its result discarded (probe).
func (c *Checker) startEarlyPings(ctx context.Context, f *facts) {
	if f.d.BootID == "" || f.ifaces == nil {
		return
	}
	memo, ok := c.boots.Routes(f.d.BootID)
	if !ok || (memo.Passed && memo.Ifaces == f.ifaceSum) {
		return
	}
	icmp, _ := probe.Lookup("icmp")
	spec := f.d.Policy.ICMP()
	for _, p := range c.planProbes(f.nics, memo.Routes, f.d.Policy.Targets) {
		if p.res.Kind != model.ProbeExternal || !p.target.IsValid() {
			continue
		}
		cmd, err := icmp.Command(f.os.Family, p.target, time.Duration(c.cfg.PingTimeout), spec)
		if err != nil {
			continue
		}
		pid, err := f.agent.Exec(ctx, cmd)
		if err != nil {
			return // the probes will say why
		}
		if f.earlyPings == nil {
			f.earlyPings = map[netip.Addr]startedPing{}
		}
		f.earlyPings[p.target] = startedPing{pid, time.Now()}
	}
}

// takeEarlyPing returns the ping startEarlyPings started for target, if
// any, and forgets it.
func (f *facts) takeEarlyPing(target netip.Addr) (startedPing, bool) {
	sp, ok := f.earlyPings[target]
	delete(f.earlyPings, target)
	return sp, ok
}
