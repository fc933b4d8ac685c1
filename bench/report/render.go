package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/bench/sim"
)

// Setup names the parameters labbench's benchmarks ran with, which the
// table states beside the figures.
type Setup struct {
	PingTimeout time.Duration // --ping-timeout of the lab rounds
	FreezeGuest string        // the guest whose agent the isolation rounds freeze
	PolicyGuest string        // the guest of the probe-method benchmark
	FullPolicy  []string      // the full policy's --probe flags
	// HostileSet and HonestSet are the guests of the hostile benchmark's
	// runs and of their honest counterparts.
	HostileSet, HonestSet []string
	ServeInterval         time.Duration // --interval of the hostile serve runs
	ServeRounds           int           // rounds of a hostile serve run
	// DetectGuest is the guest whose link the time-to-detect benchmark
	// cuts; DetectInterval, DetectRetry and DetectDownAfter are its serves'
	// --interval, --retry-interval and --down-after; DetectGoal the target
	// in seconds from the cut to down.
	DetectGuest     string
	DetectInterval  time.Duration
	DetectRetry     time.Duration
	DetectDownAfter int
	DetectGoal      float64
	// WorkersGoal bounds virsh list during a round ÷ idle.
	WorkersGoal float64
}

// Render returns the Markdown of BENCHMARKS.md's table for rep: a heading
// with the machine, then one row per figure with the command that produced
// it, the target and whether it was met, ordered by the figure's number.
// cfg names the parameters the benchmarks ran with.
func Render(rep *Results, cfg Setup) string {
	var out strings.Builder
	m := rep.Machine
	fmt.Fprintf(&out, "## vmcheck benchmarks, %s\n\n", rep.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&out, "Machine: %s, %d cores, %.0f GiB; %s, kernel %s; libvirt %s, %s; %s.\n",
		m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Kernel, m.Libvirt, m.QEMU, m.Go)
	if len(rep.VMCheck) > 0 {
		fmt.Fprintf(&out, "Lab rounds: %d repetitions, interleaved, medians (min–max); guests in order %s; ping timeout %s. "+
			"Background load on the host (other processes, measured for 1 s before each repetition): median %.0f%% of its CPU.\n",
			rep.Reps, strings.Join(rep.Guests, ", "), cfg.PingTimeout, 100*sim.Median(rep.Idle))
	}
	out.WriteString("\n")
	var t table
	t.row("#", "figure", "command", "measured", "target", "result")
	t.row("---", "---", "---", "---", "---", "---")
	if len(rep.VMCheck) > 0 {
		roundRows(&t, rep)
		checkRows(&t, rep, cfg)
	}
	policySim := simRows(&t, rep)
	policyRows(&t, rep, cfg, policySim)
	hostileRows(&t, rep, cfg)
	detectRows(&t, rep, cfg)
	workersRows(&t, rep, cfg)
	out.WriteString(t.String())
	return out.String()
}

// vmcmd is the command of the lab rounds.
const vmcmd = "`bin/vmcheck check -c $URI --external 203.0.113.10 --ping-timeout 2s -o json --domain …`"

// roundRows are the figures of the lab rounds: vmcheck against the
// baseline, and its parallel scaling.
func roundRows(t *table, rep *Results) {
	for _, n := range []int{1, 4, 8} {
		v, b := walls(rep.VMCheck[n]), walls(rep.Baseline[n])
		ratio := sim.Median(b) / sim.Median(v)
		target, res := "—", "—"
		if n == 8 {
			target, res = "≥ 10×", met(ratio >= 10)
		}
		t.row("1", fmt.Sprintf("round, N = %d: baseline ÷ vmcheck", n),
			vmcmd+" vs `bench/baseline.sh -c $URI -e 203.0.113.10 -W 2 …`",
			fmt.Sprintf("%s (%s) vs %s (%s): **%.1f×**", Secs(sim.Median(b)), spread(b), Secs(sim.Median(v)), spread(v), ratio), target, res)
	}
	var vmCPU, baseCPU []float64
	for _, r := range rep.VMCheck[8] {
		vmCPU = append(vmCPU, r.CPU.Tool)
	}
	for _, r := range rep.Baseline[8] {
		baseCPU = append(baseCPU, r.CPU.Tool)
	}
	t.row("1", "CPU time of the tool itself per round, N = 8 (user + system; the baseline's with its virsh processes)", "as above",
		fmt.Sprintf("baseline %.2f CPU-s vs vmcheck %.3f CPU-s: %.0f×", sim.Median(baseCPU), sim.Median(vmCPU), sim.Median(baseCPU)/sim.Median(vmCPU)), "—", "—")
	v1, v8 := sim.Median(walls(rep.VMCheck[1])), sim.Median(walls(rep.VMCheck[8]))
	slowest, slowestName := 0.0, ""
	var solo []string
	for _, g := range rep.Guests {
		m := sim.Median(walls(rep.Solo[g]))
		solo = append(solo, fmt.Sprintf("%s %s", strings.TrimPrefix(g, "lab-"), Secs(m)))
		if m > slowest {
			slowest, slowestName = m, g
		}
	}
	var busy8, qemu8, lv8, tool8 []float64
	for _, r := range rep.VMCheck[8] {
		busy8 = append(busy8, r.HostBusy)
		qemu8 = append(qemu8, r.CPU.QEMU)
		lv8 = append(lv8, r.CPU.Libvirtd)
		tool8 = append(tool8, r.CPU.Tool)
	}
	t.row("2", "parallel scaling: vmcheck round N = 8 ÷ N = 1", vmcmd,
		fmt.Sprintf("%s ÷ %s = **%.2f×**; ÷ the slowest guest alone (%s, %s) = %.2f×; each guest alone: %s. "+
			"During an N = 8 round the host's %d cores were %.0f%% busy; the guests' QEMU used %.2f CPU-s, libvirtd %.2f, vmcheck %.2f",
			Secs(v8), Secs(v1), v8/v1, slowestName, Secs(slowest), v8/slowest, strings.Join(solo, ", "),
			rep.Machine.Cores, 100*sim.Median(busy8), sim.Median(qemu8), sim.Median(lv8), sim.Median(tool8)),
		"≤ 1.5×", met(v8/v1 <= 1.5))

}

// checkRows are the figures of one check: against its floor, with a silent
// external target, and beside a frozen agent.
func checkRows(t *table, rep *Results, cfg Setup) {
	var check, floor, rtt, execRTT, statusRTT, pgw, pext []float64
	for _, r := range rep.VMCheck[1] {
		check = append(check, r.Checks[rep.Guests[0]])
	}
	for _, f := range rep.Floor {
		floor = append(floor, f.Floor)
		rtt = append(rtt, f.PingRTT...)
		execRTT = append(execRTT, f.ExecRTT...)
		statusRTT = append(statusRTT, f.StatusRTT...)
		pgw = append(pgw, f.PingGateway)
		pext = append(pext, f.PingExternal)
	}
	ratio := sim.Median(check) / sim.Median(floor)
	t.row("3", "one check (lab-debian, N = 1) ÷ its floor",
		"`duration_seconds` of the N = 1 rounds; floor: labbench's minimal client (2 × guest-exec, then guest-exec-status back to back until exited)",
		fmt.Sprintf("%s (%s) ÷ %s (%s) = **%.2f×**; floor parts: ping in guest %s (gateway) / %s (external), guest-exec %s, guest-exec-status %s, guest-ping %s",
			Secs(sim.Median(check)), spread(check), Secs(sim.Median(floor)), spread(floor), ratio,
			Secs(sim.Median(pgw)), Secs(sim.Median(pext)), Secs(sim.Median(execRTT)), Secs(sim.Median(statusRTT)), Secs(sim.Median(rtt))),
		"≤ 1.5×", met(ratio <= 1.5))
	for _, n := range []int{1, 8} {
		s := walls(rep.Silent[n])
		limit := cfg.PingTimeout.Seconds() + 0.5
		t.row("4", fmt.Sprintf("round, N = %d, external target silent (T = %s)", n, cfg.PingTimeout),
			"`bin/vmcheck check … --external 203.0.113.20 --ping-timeout 2s`",
			fmt.Sprintf("**%s** (%s); the same round with the target answering: %s", Secs(sim.Median(s)), spread(s), Secs(sim.Median(walls(rep.VMCheck[n])))),
			fmt.Sprintf("≤ T + 0.5 s = %s", Secs(limit)), met(sim.Median(s) <= limit))
	}
	with, without := othersChecks(rep.IsoWith, cfg.FreezeGuest), othersChecks(rep.IsoWithout, cfg.FreezeGuest)
	iso := sim.Median(with) / sim.Median(without)
	t.row("5", "isolation: the 7 other domains' checks with lab-freeze's agent frozen in the round ÷ without it",
		"`lab/lab.sh fault freeze-agent lab-freeze`; `bin/vmcheck check … --timeout 8s` on the 8 guests vs the 7 others, interleaved",
		fmt.Sprintf("median check %s (%s) vs %s (%s): **%.2f×**; rounds %s vs %s", Secs(sim.Median(with)), spread(with), Secs(sim.Median(without)), spread(without), iso,
			Secs(sim.Median(walls(rep.IsoWith))), Secs(sim.Median(walls(rep.IsoWithout)))),
		"≤ 1.10×", met(iso <= 1.10))
}

// simRows are the simulator figures but the probe methods', which it
// returns.
func simRows(t *table, rep *Results) (policySim []SimRun) {
	var serve, cron, small []SimRun
	for _, s := range rep.Sim {
		switch {
		case slices.Contains(s.Args, "-policy"):
			policySim = append(policySim, s)
		case s.Report.Mode == "cron":
			cron = append(cron, s)
		case s.Report.Domains < 100:
			small = append(small, s)
		default:
			serve = append(serve, s)
		}
	}
	if len(small) == 2 {
		a, b := small[0].Report, small[1].Report
		t.row("2", fmt.Sprintf("vmcheck's own parallelism: simulated round of %d ÷ %d domains (lab latencies, no host CPU contention)", b.Domains, a.Domains),
			"`"+strings.Join(small[0].Args, " ")+"`, then `-n 8`",
			fmt.Sprintf("%s ÷ %s = **%.2f×**", Secs(b.Warm.Wall), Secs(a.Warm.Wall), b.Warm.Wall/a.Warm.Wall), "≤ 1.5×", met(b.Warm.Wall/a.Warm.Wall <= 1.5))
	}
	var before *SimRun
	for i, s := range serve {
		if s.Report.Metrics == "promhttp" {
			before = &serve[i]
			serve = slices.Delete(slices.Clone(serve), i, i+1)
			break
		}
	}
	for _, s := range serve {
		r := s.Report
		cmd := "`" + strings.Join(s.Args, " ") + "`"
		t.row("6", fmt.Sprintf("%d simulated domains, %s: round wall time (warm; cold)", r.Domains, s.Name), cmd,
			fmt.Sprintf("**%s** (cold %s); median check %s; **%.3f agent calls per ok check**; agent calls in flight ≤ %d (peak %d, %d backoffs)",
				Secs(r.Warm.Wall), Secs(r.Cold.Wall), Secs(r.Warm.MedianCheck), r.Warm.AgentCallsOK, r.AgentCallLimit, r.AgentCallPeak, r.AgentCallBackoffs),
			"< 2 s; ≤ 5 calls", met(r.Warm.Wall < 2 && r.Warm.AgentCallsOK <= 5))
	}
	if len(serve) > 0 {
		// The other serve figures: from the run at the defaults.
		s := serve[0]
		r := s.Report
		cmd := "`" + strings.Join(s.Args, " ") + "`"
		t.row("6", "host CPU per check (user + system, simulator included)", cmd,
			fmt.Sprintf("**%.0f µs** (cold round %.0f µs)", r.Warm.CPUPerCheck*1e6, r.Cold.CPUPerCheck*1e6), "< 1 ms", met(r.Warm.CPUPerCheck < 1e-3 && r.Cold.CPUPerCheck < 1e-3))
		t.row("6", "peak RSS, serve: rounds, each followed by 1 + 10 scrapes", cmd,
			fmt.Sprintf("**%.0f MB**, of which %.0f MB file-backed (binary, libvirt and its libraries); Go memory limit %.1f MiB", float64(r.PeakRSSBytes)/1e6, float64(r.RSSFileBytes)/1e6, float64(r.MemoryLimit)/(1<<20)), "< 60 MB", met(r.PeakRSSBytes < 60e6))
		t.row("6", "allocations per check (simulator included)", cmd,
			fmt.Sprintf("%.0f allocs, %.0f kB", r.Warm.AllocsPerChk, r.Warm.BytesPerCheck/1e3), "—", "—")
		t.row("6", fmt.Sprintf("GET /metrics, %d domains (%d samples, gzip), between rounds", r.Domains, r.ScrapeSamples), cmd,
			fmt.Sprintf("**%s** (%d kB gzip); first scrape after a round %s", Secs(r.ScrapeCached), r.ScrapeBytes/1000, Secs(r.ScrapeFresh)), "< 10 ms", met(r.ScrapeCached < 0.010))
		if before != nil {
			b := before.Report
			t.row("6", "the same, as before this change: every metric gathered, encoded and compressed by promhttp on each scrape",
				"`"+strings.Join(before.Args, " ")+"`",
				fmt.Sprintf("%s (%d kB gzip); first scrape after a round %s; peak RSS %.0f MB", Secs(b.ScrapeCached), b.ScrapeBytes/1000, Secs(b.ScrapeFresh), float64(b.PeakRSSBytes)/1e6),
				"< 10 ms", met(b.ScrapeCached < 0.010))
		}
	}
	if len(cron) > 0 {
		var tf, rss, file []float64
		for _, s := range cron {
			tf = append(tf, s.Report.TextfileWrite)
			rss = append(rss, float64(s.Report.PeakRSSBytes))
			file = append(file, float64(s.Report.RSSFileBytes))
		}
		r := cron[0].Report
		cmd := "`" + strings.Join(cron[0].Args, " ") + "` ×" + fmt.Sprint(len(cron))
		t.row("6", fmt.Sprintf("cron: textfile write, %d domains (gather, encode, fsync, rename)", r.Domains), cmd,
			fmt.Sprintf("%s (%s), %d kB", Secs(sim.Median(tf)), spread(tf), r.TextfileBytes/1000), "—", "—")
		t.row("6", "peak RSS, cron: one cold round, then the textfile", cmd,
			fmt.Sprintf("**%.0f MB** (max of %d), of which %.0f MB file-backed", slices.Max(rss)/1e6, len(rss), sim.Median(file)/1e6), "< 60 MB", met(slices.Max(rss) < 60e6))
	}
	return policySim
}

// othersChecks pools the check durations of every domain but frozen.
func othersChecks(runs []VMRun, frozen string) []float64 {
	var out []float64
	for _, r := range runs {
		for name, d := range r.Checks {
			if name != frozen {
				out = append(out, d)
			}
		}
	}
	return out
}
