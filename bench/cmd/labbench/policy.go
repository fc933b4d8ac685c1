package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmcheck/vmcheck/bench/sim"
)

// policyGuest is the guest of the probe-method benchmark: Debian with
// iputils, getent and curl.
const policyGuest = "lab-debian"

// PolicyPair is one repetition of the probe-method benchmark: a check of
// policyGuest with the default probes and one with the full policy.
type PolicyPair struct {
	Default VMRun `json:"default"`
	Full    VMRun `json:"full"`
}

// fullPolicy is the full policy of docs/probes.md as --probe flags, against
// the lab's outside (its web server on port 80, its resolver's name).
func fullPolicy(lab *Lab) []string {
	return []string{"--probe", "icmp,count=5", "--probe", "mtu", "--probe", "dns,name=www.example.test",
		"--probe", "tcp,target=" + lab.External + ":80", "--probe", "http,url=http://" + lab.External + "/"}
}

// policyBenchmarks checks policyGuest with the default probes and with the
// full policy, interleaved, o.reps times (after one warm-up of each: the
// boot's learned command times).
func policyBenchmarks(ctx context.Context, o options, lab *Lab, rep *Results) error {
	logf("probe methods: %s with the default probes and with the full policy", policyGuest)
	doms := []string{policyGuest}
	for _, extra := range [][]string{nil, fullPolicy(lab)} {
		if _, err := runVMCheck(ctx, o, lab, lab.External, doms, extra...); err != nil {
			return err
		}
	}
	for r := range o.reps {
		var p PolicyPair
		for _, full := range []bool{r%2 == 0, r%2 != 0} {
			var extra []string
			dst := &p.Default
			if full {
				extra, dst = fullPolicy(lab), &p.Full
			}
			v, err := runVMCheck(ctx, o, lab, lab.External, doms, extra...)
			if err != nil {
				return err
			}
			if v.States[policyGuest] != "ok" {
				return fmt.Errorf("probe methods: %s is %s with %v", policyGuest, v.States[policyGuest], extra)
			}
			*dst = v
		}
		logf("  rep %d: check %.3fs default, %.3fs full policy", r+1, p.Default.Checks[policyGuest], p.Full.Checks[policyGuest])
		rep.Policy = append(rep.Policy, p)
	}
	return nil
}

// policyRows are the figures of the probe methods: the lab's check times
// side by side, and the simulator's agent calls.
func policyRows(t *table, rep *Results, policySim []SimRun) {
	if len(rep.Policy) > 0 {
		var def, full []float64
		for _, p := range rep.Policy {
			def, full = append(def, p.Default.Checks[policyGuest]), append(full, p.Full.Checks[policyGuest])
		}
		ratio := sim.Median(full) / sim.Median(def)
		t.row("7", fmt.Sprintf("one check of %s: full policy ÷ default probes (icmp count 5, mtu, dns, tcp, http; real tools in a real guest)", policyGuest),
			"`bin/vmcheck check … --domain "+policyGuest+" "+strings.Join(fullPolicy(&Lab{External: "EXT"}), " ")+"` vs without the --probe flags",
			fmt.Sprintf("%s (%s) ÷ %s (%s) = **%.2f×**", secs(sim.Median(full)), spread(full), secs(sim.Median(def)), spread(def), ratio),
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
				secs(d.Report.Warm.MedianCheck), secs(f.Report.Warm.MedianCheck)),
			fmt.Sprintf("default ≤ 7; full ≤ default + 2 per added method (%.1f)", budget),
			met(d.Report.Warm.AgentCalls <= 7.5 && f.Report.Warm.AgentCalls <= budget))
	}
}
