package checker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/checker/bootcache"
	"github.com/vmcheck/vmcheck/checker/diagnose"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/settings"
)

// Checker checks domains. It caches per-boot facts (the guest OS) between
// rounds, so one Checker should live as long as the process.
//
// A check is a pipeline: discover (discover.go) turns what the hypervisor
// and the agent say into typed facts; probe (probe.go) plans and runs the
// pings from those facts; judge and verdict (verdict.go) decide; the plain
// Result is built once, from the facts, and passes clean (untrusted.go).
type Checker struct {
	cfg settings.Config
	// calls bounds the agent calls in flight over every domain.
	calls *guestagent.Limiter

	// boots remembers per-boot facts between rounds.
	boots    *bootcache.Cache
	gateways gatewayMemory
}

// New returns a Checker for cfg, with defaults applied.
func New(cfg settings.Config) *Checker {
	cfg = cfg.WithDefaults()
	return &Checker{cfg: cfg, calls: guestagent.NewLimiter(cfg.AgentCalls), boots: bootcache.New()}
}

// AgentCalls returns a snapshot of the limit on agent calls in flight
// (settings.Config.AgentCalls): the limit now, the most calls in flight so far,
// how often it backed off.
func (c *Checker) AgentCalls() guestagent.LimiterStats { return c.calls.Stats() }

// Config returns the configuration in force, with defaults applied.
func (c *Checker) Config() settings.Config { return c.cfg }

// Check runs the whole method on one domain under ctx, which should carry the
// domain's deadline: discovery, then the pings. It never returns an error:
// whatever went wrong is the Result's state and reason. Every string of the
// Result is sanitised and capped (see clean).
func (c *Checker) Check(ctx context.Context, d model.Domain) (out model.Result) {
	defer func() { a := d.Policy.EffectiveAlert(d.Nova.Project); out.Alert = &a }()
	start := time.Now()
	f, stop := c.discover(ctx, d, true)
	if stop != nil {
		return finish(*stop, start)
	}
	r := c.judge(ctx, f)
	f.waitEarly() // judge gave up before probing: nothing may outlive the check
	c.dropEarlyPings(ctx, f)
	return finish(r, start)
}

// Discover learns what Check learns before it pings: agent state, OS, NIC
// addresses, gateways and their sources. It runs no guest command other than
// the ones OS detection and route reading need. State is left empty unless
// the domain is paused or its agent cannot be used.
func (c *Checker) Discover(ctx context.Context, d model.Domain) model.Result {
	start := time.Now()
	f, stop := c.discover(ctx, d, false)
	if stop != nil {
		return finish(*stop, start)
	}
	if !f.execOK {
		return finish(f.result("", model.AgentExecDisabled, ""), start)
	}
	reason := ""
	if f.osErr != nil || f.routeErr != nil {
		reason = guestagent.Sanitize(errors.Join(f.osErr, f.routeErr).Error(), 300)
	}
	return finish(f.result("", model.AgentOK, reason), start)
}

// finish passes a Result through the choke point and stamps its timing.
func finish(r model.Result, start time.Time) model.Result {
	r = clean(r)
	r.CheckedAt = start.UTC()
	r.Duration = time.Since(start).Seconds()
	return r
}

// judge decides a domain whose discovery went through: it pings when the
// agent allows it and the OS is known, and turns the outcomes into a state.
func (c *Checker) judge(ctx context.Context, f *facts) model.Result {
	if !f.execOK {
		return f.result(model.StateUnknown, model.AgentExecDisabled, "guest-exec is blocked by the agent's configuration: allow guest-exec and guest-exec-status in qemu-ga's config (--allow-rpcs/--block-rpcs, BLACKLIST_RPC)")
	}
	if f.osErr != nil {
		if ctx.Err() != nil {
			return f.result(model.StateUnknown, model.AgentUnresponsive, deadlineReason(f.osErr))
		}
		return f.result(model.StateUnknown, model.AgentOK, fmt.Sprintf("cannot tell the guest's OS, so cannot choose a ping command: %v", f.osErr))
	}
	if ctx.Err() != nil {
		return f.result(model.StateUnknown, model.AgentUnresponsive, deadlineReason(ctx.Err()))
	}
	probes, agentLost := c.pingAll(ctx, f)
	agent := model.AgentOK
	if agentLost {
		agent = model.AgentUnresponsive
	}
	state, reason := verdict(probes)
	c.routesPassed(f, state == model.StateOK)
	if state != model.StateOK {
		var why []string
		if f.ifErr != nil {
			why = append(why, fmt.Sprintf("guest interfaces unknown: %v", f.ifErr))
		}
		if f.routeErr != nil {
			why = append(why, fmt.Sprintf("guest routes unknown (%s): %v", f.routeSrc, f.routeErr))
		}
		if len(why) > 0 {
			reason += "; " + strings.Join(why, "; ")
		}
	}
	r := f.result(state, agent, reason)
	r.Probes = probes
	if state != model.StateOK {
		r.Diagnosis = diagnose.Diagnose(ctx, c.diagnosisFacts(f), probes, r.NICs)
	}
	return r
}

// evidenceWait waits until t, or until ctx is done, before an evidence
// command of the diagnosis. Tests replace it.
var evidenceWait = func(ctx context.Context, t time.Time) error {
	return timing.Sleep(ctx, time.Until(t))
}

// diagnosisFacts is what the diagnosis reads of a check's facts; the
// remedy of a link the host set down is the config's backend's.
func (c *Checker) diagnosisFacts(f *facts) *diagnose.Facts {
	df := &diagnose.Facts{Domain: f.d, NICs: make([]diagnose.NIC, len(f.nics)), Family: f.os.Family, InterfacesKnown: f.ifErr == nil,
		Routes: f.routes, RoutesRead: f.routesRead, RouteSource: f.routeSrc, Guest: f.agent,
		PingTimeout: time.Duration(c.cfg.PingTimeout), Wait: evidenceWait}
	df.LinkDown = func(d model.Domain, n model.NIC) string {
		if b := c.cfg.Host(); b != nil {
			return b.LinkDownDetail(d, n)
		}
		return ""
	}
	for i, n := range f.nics {
		df.NICs[i] = diagnose.NIC{MAC: n.mac, GuestName: n.guestName, Addrs: n.addrs, Gateway: n.gateway,
			GatewaySource: n.gatewaySource, Expected: n.expected, DefaultRoute: n.defaultRoute}
	}
	return df
}

// pingAll runs the probes of the plan and the methods discovery started.
// When the plan came from routes an earlier check read and some probe did
// not pass, it reads the routes again, and probes again if they changed
// the targets: remembered routes never decide a failure. An external
// target that got no reply while a gateway answered is pinged once more
// (confirmUpstream).
func (c *Checker) pingAll(ctx context.Context, f *facts) ([]model.ProbeResult, bool) {
	extra := f.d.Policy.Targets
	probes, agentLost := c.probe(ctx, f, extra)
	if f.routesCached && !agentLost && ctx.Err() == nil {
		if state, _ := verdict(probes); state != model.StateOK && c.rereadRoutes(ctx, f, extra) {
			probes, agentLost = c.probe(ctx, f, extra)
		}
	}
	if !agentLost && ctx.Err() == nil {
		probes, agentLost = c.confirmUpstream(ctx, f, probes)
		if agentLost {
			c.boots.SetInfo(f.d.BootID, f.info, false)
		}
	}
	return append(probes, f.waitEarly()...), agentLost
}

// detectOS returns the cached OS of this boot or detects it.
func (c *Checker) detectOS(ctx context.Context, ga *guestagent.Client, d model.Domain) (osdetect.Info, error) {
	if cached, ok := c.boots.OS(d.BootID); ok {
		return cached, nil
	}
	info, err := osdetect.Detect(ctx, ga)
	if err != nil {
		return info, fmt.Errorf("os detection: %w", err)
	}
	if info.Family != osdetect.Unknown {
		c.boots.SetOS(d.BootID, info)
	}
	return info, nil
}

// Forget drops cached facts about domains whose BootID is not in keep.
func (c *Checker) Forget(keep map[string]bool) {
	c.boots.Forget(keep)
	c.gateways.forget(keep)
}
