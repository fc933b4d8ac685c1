package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/guestagent"
)

// policyGuest is the guest of the probe-method benchmark: Debian with
// iputils, getent and curl.
const policyGuest = "lab-debian"

// policyTools are the guest commands of the full policy, as vmcheck runs
// them against the lab's outside.
func policyTools(lab *Lab) map[string]guestagent.Command {
	curl := []string{"-sS", "-o", "/dev/null", "--proto", "=http,https", "--max-redirs", "0", "--connect-timeout", "5.000", "-m", "5.000",
		"-w", "%{http_code} %{time_connect} %{time_total}", "http://" + lab.External + "/"}
	return map[string]guestagent.Command{
		"ping -c 5 -A":    {Path: "ping", Args: []string{"-c", "5", "-A", "-i", "0.2", "-W", "2", lab.External}, CaptureOutput: true},
		"ping -M do -c 3": {Path: "ping", Args: []string{"-c", "3", "-A", "-i", "0.2", "-W", "2", "-M", "do", "-s", "1472", lab.External}, CaptureOutput: true},
		"getent ahosts":   {Path: "getent", Args: []string{"ahosts", "www.example.test"}, CaptureOutput: true},
		"curl":            {Path: "curl", Args: curl, CaptureOutput: true},
	}
}

// toolRuntimes measures each of policyTools alone in policyGuest.
func toolRuntimes(ctx context.Context, ga *guestagent.Client, lab *Lab) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out := map[string]float64{}
	for name, cmd := range policyTools(lab) {
		pid, err := ga.Exec(ctx, cmd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		spawned := time.Now()
		for {
			sent := time.Now()
			st, err := ga.ExecStatus(ctx, pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if st.Exited {
				out[name] = (sent.Sub(spawned) + time.Since(sent)/2).Seconds()
				break
			}
		}
	}
	return out, nil
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
func policyBenchmarks(ctx context.Context, o options, lab *Lab, rep *report.Results) error {
	logf("probe methods: %s with the default probes and with the full policy", policyGuest)
	agent, closeAgent, err := debianAgent(ctx, lab)
	if err != nil {
		return err
	}
	defer closeAgent()
	doms := []string{policyGuest}
	for _, extra := range [][]string{nil, fullPolicy(lab)} {
		if _, err := runVMCheck(ctx, o, lab, lab.External, doms, extra...); err != nil {
			return err
		}
	}
	for r := range o.reps {
		var p report.PolicyPair
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
		if p.Tools, err = toolRuntimes(ctx, agent, lab); err != nil {
			return fmt.Errorf("probe methods: %w", err)
		}
		logf("  rep %d: check %.3fs default, %.3fs full policy; tools alone %v", r+1, p.Default.Checks[policyGuest], p.Full.Checks[policyGuest], p.Tools)
		rep.Policy = append(rep.Policy, p)
	}
	return nil
}
