package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/bench/sim"
)

// simLatency is the simulator's latency model from the lab's floor
// measurements (medians), or the built-in defaults without a lab.
func simLatency(rep *report.Results) (sim.Latency, string) {
	lat := sim.DefaultLatency
	var ping, exec, run []float64
	for _, f := range rep.Floor {
		ping = append(ping, f.PingRTT...)
		exec = append(exec, f.ExecRTT...)
		run = append(run, f.PingGateway, f.PingExternal)
	}
	if len(ping) == 0 {
		return lat, "built-in defaults (bench/sim.DefaultLatency)"
	}
	lat.RoundTrip = seconds(sim.Median(ping))
	lat.Exec = seconds(sim.Median(exec))
	lat.PingReply = seconds(sim.Median(run))
	return lat, "this run's lab medians"
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// simConfigs are the simulator runs: `vmcheck serve` with its default
// concurrency, with a concurrency sized for a thousand domains, and the
// same with libvirtd's default worker pool (max_workers = 20) modelled;
// then `vmcheck cron` (one cold round and the textfile), three times.
var simConfigs = []struct {
	name   string
	rounds int
	args   []string
}{
	{"serve, 1 domain", 7, []string{"-n", "1"}},
	{"serve, 8 domains", 7, []string{"-n", "8"}},
	{"serve, defaults (concurrency 128, agent calls 18), libvirtd max_workers 20", 3, []string{"-workers", "20"}},
	{"serve, concurrency 8 (the default before issue 23), libvirtd max_workers 20", 3, []string{"-concurrency", "8", "-workers", "20"}},
	{"serve, concurrency 128", 5, []string{"-concurrency", "128"}},
	{"serve, concurrency 128, /metrics as before the cache (all behind promhttp)", 3, []string{"-concurrency", "128", "-metrics", "promhttp"}},
	{"serve, concurrency 128, libvirtd max_workers 20", 3, []string{"-concurrency", "128", "-workers", "20"}},
	{"cron, concurrency 128", 1, []string{"-mode", "cron", "-concurrency", "128"}},
	{"cron, concurrency 128", 1, []string{"-mode", "cron", "-concurrency", "128"}},
	{"cron, concurrency 128", 1, []string{"-mode", "cron", "-concurrency", "128"}},
	{"serve, 1 domain, default probes", 7, []string{"-n", "1", "-policy", "default"}},
	{"serve, 1 domain, full policy", 7, []string{"-n", "1", "-policy", "full"}},
	{"serve, defaults, default probes", 3, []string{"-policy", "default"}},
	{"serve, defaults, full policy", 3, []string{"-policy", "full"}},
}

func simBenchmarks(ctx context.Context, o options, rep *report.Results) error {
	bin := o.simbench
	if bin == "" {
		bin = filepath.Join(o.out, "simbench")
		logf("building the simulator")
		if _, err := command(ctx, "go", "build", "-o", bin, "./bench/cmd/simbench"); err != nil {
			return err
		}
		defer os.Remove(bin)
	}
	lat, from := simLatency(rep)
	logf("simulator latencies (%s): round trip %v, guest-exec %v, ping %v", from, lat.RoundTrip, lat.Exec, lat.PingReply)
	for i, c := range simConfigs {
		if o.simOnly != "" && !strings.Contains(c.name, o.simOnly) {
			continue
		}
		rounds := max(2, min(c.rounds, o.simReps))
		if slices.Contains(c.args, "cron") {
			rounds = 1
		}
		args := []string{"-n", fmt.Sprint(o.simN)}
		if slices.Contains(c.args, "-n") {
			args = nil
		}
		args = append(args, "-rounds", fmt.Sprint(rounds),
			"-rtt", lat.RoundTrip.Round(10*time.Microsecond).String(), "-exec", lat.Exec.Round(10*time.Microsecond).String(),
			"-ping", lat.PingReply.Round(10*time.Microsecond).String())
		args = append(args, c.args...)
		logf("simulator: %d domains, %s", o.simN, c.name)
		out, err := command(ctx, bin, args...)
		if err != nil {
			return err
		}
		var r report.SimReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return fmt.Errorf("simbench output: %w", err)
		}
		if err := os.WriteFile(filepath.Join(o.out, fmt.Sprintf("sim-%d.json", i+1)), []byte(out), 0o644); err != nil {
			return err
		}
		rep.Sim = append(rep.Sim, report.SimRun{Name: c.name, Args: append([]string{"simbench"}, args...), Report: r})
		logf("  round %.2fs (warm), %.0f µs CPU/check, peak RSS %.0f MB, scrape %.1f ms, textfile %.1f ms",
			r.Warm.Wall, r.Warm.CPUPerCheck*1e6, float64(r.PeakRSSBytes)/1e6, r.ScrapeCached*1e3, r.TextfileWrite*1e3)
	}
	return nil
}
