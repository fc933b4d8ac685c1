package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/schedule"
)

// hostileRows adds the hostile-guest figures to the table.
func hostileRows(t *table, rep *Results, cfg Setup) {
	pick := func(mode string, hostile bool) (rss, wall []float64) {
		for _, h := range rep.Hostile {
			if h.Mode == mode && h.Hostile == hostile {
				rss, wall = append(rss, h.PeakRSS), append(wall, h.Wall)
			}
		}
		return rss, wall
	}
	for _, m := range []struct {
		mode, cmd string
		target    float64
	}{
		{"check", "`bin/vmcheck check -c $URI --external 203.0.113.10 --timeout 10s -o json --domain …`", 100e6},
		{"serve", fmt.Sprintf("`bin/vmcheck serve -c $URI --timeout 10s --interval %s --domain …` (recorder on), %d rounds with scrapes", cfg.ServeInterval, cfg.ServeRounds), 150e6},
	} {
		bad, badWall := pick(m.mode, true)
		good, _ := pick(m.mode, false)
		if len(bad) == 0 || len(good) == 0 {
			continue
		}
		t.row("H", fmt.Sprintf("peak RSS, %s: %s ÷ %s", m.mode, strings.Join(cfg.HostileSet, " + "), strings.Join(cfg.HonestSet, " + ")), m.cmd,
			fmt.Sprintf("**%.0f MB** (max %.0f MB) vs %.0f MB (max %.0f MB): %.2f×; wall %s (max %s)",
				sim.Median(bad)/1e6, slices.Max(bad)/1e6, sim.Median(good)/1e6, slices.Max(good)/1e6, sim.Median(bad)/sim.Median(good),
				Secs(sim.Median(badWall)), Secs(slices.Max(badWall))),
			fmt.Sprintf("< %.0f MB", m.target/1e6), met(slices.Max(bad) < m.target))
	}
}

// detectRows adds the time-to-detect figures.
func detectRows(t *table, rep *Results, cfg Setup) {
	pick := func(serve string, f func(DetectRun) float64) []float64 {
		var v []float64
		for _, d := range rep.Detect {
			if d.Serve == serve {
				v = append(v, f(d))
			}
		}
		return v
	}
	down := func(d DetectRun) float64 { return d.Down }
	firing := func(d DetectRun) float64 { return d.Firing }
	with, without := pick("retries", down), pick("rounds", down)
	if len(with) == 0 || len(without) == 0 {
		return
	}
	cmd := fmt.Sprintf("`bin/vmcheck serve --interval %s --retry-interval %s --down-after %d` vs `--retry-interval %s` (no retries), side by side; `lab.sh fault link-down %s` at a random moment of the round",
		cfg.DetectInterval, cfg.DetectRetry, cfg.DetectDownAfter, cfg.DetectInterval, cfg.DetectGuest)
	t.row("T", "link cut → `down` on /metrics: with retries ÷ without", cmd,
		fmt.Sprintf("**%s** (%s) vs %s (%s): **%.2f×**", Secs(sim.Median(with)), spread(with),
			Secs(sim.Median(without)), spread(without), sim.Median(with)/sim.Median(without)),
		fmt.Sprintf("≤ %.0f s", cfg.DetectGoal), met(slices.Max(with) <= cfg.DetectGoal))
	if def := pick("defaults", down); len(def) > 0 {
		budget := schedule.DefaultInterval + (history.DefaultDownAfter-1)*schedule.DefaultRetryInterval + 2*cfg.PingTimeout
		t.row("T", "link cut → `down` on /metrics with the shipped defaults (`--interval 60s --retry-interval 10s --down-after 3`)",
			"`bin/vmcheck serve` with no timing flag, beside the two above",
			fmt.Sprintf("**%s** (%s)", Secs(sim.Median(def)), spread(def)),
			fmt.Sprintf("≤ %s: an interval, %d retries, the last check (≤ 2 × ping timeout)", budget, history.DefaultDownAfter-1),
			met(slices.Max(def) <= budget.Seconds()))
	}
	fw, fo := pick("retries", firing), pick("rounds", firing)
	pw := pick("retries", func(d DetectRun) float64 { return d.Pending })
	t.row("T", "link cut → VMCheckLinkDown firing (shipped rules, `for: 1m`; Prometheus scrape and evaluation every 15s): with retries ÷ without",
		"Debian's `prometheus` on loopback scraping both serves",
		fmt.Sprintf("%s (%s; pending after %s) vs %s (%s): %.2f×", Secs(sim.Median(fw)), spread(fw), Secs(sim.Median(pw)),
			Secs(sim.Median(fo)), spread(fo), sim.Median(fw)/sim.Median(fo)), "—", "—")
}

// workersRows adds the libvirtd-workers rows to the table.
func workersRows(t *table, rep *Results, cfg Setup) {
	for _, r := range rep.Workers {
		idle, during := sim.Median(r.IdleList), sim.Median(r.RoundList)
		worst := 0.0
		if len(r.RoundList) > 0 {
			worst = slices.Max(r.RoundList)
		}
		flags := cmp.Or(r.Flags, "the shipped defaults")
		t.row("W", fmt.Sprintf("libvirtd at max_workers %d, one round of %d lab guests with %s: `virsh list` during the round ÷ idle; libvirt overload errors",
			r.MaxWorkers, r.Domains, flags),
			fmt.Sprintf("`virt-admin srv-threadpool-set libvirtd --max-workers %d`; `bin/vmcheck check %s` beside `virsh list` back to back", r.MaxWorkers, r.Flags),
			fmt.Sprintf("**%.2f×** (median %s vs idle %s; worst %s; %d samples); %d overload errors, %d unresponsive; agent calls %d; round %.1f s",
				during/idle, Secs(during), Secs(idle), Secs(worst), len(r.RoundList), len(r.Overload), r.Unresponsive, r.AgentCalls, r.Wall),
			fmt.Sprintf("≤ %.0f×, no overload error (shipped defaults)", cfg.WorkersGoal),
			map[bool]string{true: met(during/idle <= cfg.WorkersGoal && len(r.Overload) == 0), false: "contrast"}[r.Flags == ""])
	}
}

// policyRows are the figures of the probe methods: the lab's check times
// side by side, and the simulator's agent calls.
func policyRows(t *table, rep *Results, cfg Setup, policySim []SimRun) {
	if len(rep.Policy) > 0 {
		var def, full []float64
		for _, p := range rep.Policy {
			def, full = append(def, p.Default.Checks[cfg.PolicyGuest]), append(full, p.Full.Checks[cfg.PolicyGuest])
		}
		ratio := sim.Median(full) / sim.Median(def)
		tools := map[string][]float64{}
		for _, p := range rep.Policy {
			for k, v := range p.Tools {
				tools[k] = append(tools[k], v)
			}
		}
		var alone []string
		slowest := 0.0
		for _, k := range slices.Sorted(maps.Keys(tools)) {
			alone = append(alone, fmt.Sprintf("%s %s", k, Secs(sim.Median(tools[k]))))
			slowest = max(slowest, sim.Median(tools[k]))
		}
		t.row("7", fmt.Sprintf("one check of %s: full policy ÷ default probes (icmp count 5, mtu, dns, tcp, http; real tools in a real guest)", cfg.PolicyGuest),
			"`bin/vmcheck check … --domain "+cfg.PolicyGuest+" "+strings.Join(cfg.FullPolicy, " ")+"` vs without the --probe flags",
			fmt.Sprintf("%s (%s) ÷ %s (%s) = **%.2f×**; the tools alone in this TCG guest: %s; floor (default check + the slowest tool) ÷ default = %.2f×",
				Secs(sim.Median(full)), spread(full), Secs(sim.Median(def)), spread(def), ratio, strings.Join(alone, ", "), (sim.Median(def)+slowest)/sim.Median(def)),
			"≤ 1.5×", met(ratio <= 1.5))
	}
	byN := map[int]map[string]SimRun{}
	for _, s := range policySim {
		if byN[s.Report.Domains] == nil {
			byN[s.Report.Domains] = map[string]SimRun{}
		}
		byN[s.Report.Domains][s.Report.Policy] = s
	}
	for _, n := range []int{1, 1000} {
		d, okD := byN[n]["default"]
		f, okF := byN[n]["full"]
		if !okD || !okF {
			continue
		}
		budget := d.Report.Warm.AgentCalls + 2*4
		t.row("7", fmt.Sprintf("agent calls per healthy check, %d simulated domain(s): default probes vs full policy (4 methods added)", n),
			"`"+strings.Join(f.Args, " ")+"`, and without -policy full",
			fmt.Sprintf("default **%.1f**, full policy **%.1f**; median check %s vs %s", d.Report.Warm.AgentCalls, f.Report.Warm.AgentCalls,
				Secs(d.Report.Warm.MedianCheck), Secs(f.Report.Warm.MedianCheck)),
			fmt.Sprintf("default ≤ 7; full ≤ default + 2 per added method (%.1f)", budget),
			met(d.Report.Warm.AgentCalls <= 7.5 && f.Report.Warm.AgentCalls <= budget))
	}
}
