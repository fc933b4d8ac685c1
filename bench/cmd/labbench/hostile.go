package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/internal/timing"
)

// The hostile-guest benchmark (issue "Hostile guests"): vmcheck's peak
// memory over two hostile lab guests and an honest one, beside the same
// runs over three honest guests.
var (
	hostileSet = []string{"lab-hostile", "lab-hostile-slow", "lab-debian"}
	honestSet  = []string{"lab-debian", "lab-busybox", "lab-twonic"}
)

const (
	hostileTimeout = 10 * time.Second // --timeout of every hostile run
	serveRounds    = 6                // rounds of a serve run
	serveInterval  = 3 * time.Second
)

// hostileBenchmarks brings the hostile guests up (lab.sh up only adds what
// is missing) and measures check and serve over both sets, interleaved.
func hostileBenchmarks(ctx context.Context, o options, lab *Lab, rep *report.Results) error {
	all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(hostileSet), honestSet...))))
	logf("hostile guests: making sure %s are up", strings.Join(all, ","))
	if err := streamed(ctx, lab.script, "up", "--guests", strings.Join(all, ",")); err != nil {
		return err
	}
	for r := range o.reps {
		for _, hostile := range []bool{r%2 == 0, r%2 != 0} {
			doms := map[bool][]string{true: hostileSet, false: honestSet}[hostile]
			v, err := runVMCheck(ctx, o, lab, lab.External, doms, "--timeout", hostileTimeout.String())
			if err != nil {
				return err
			}
			rep.Hostile = append(rep.Hostile, report.HostileRun{Mode: "check", Hostile: hostile, Wall: v.Wall, PeakRSS: v.PeakRSS, States: v.States, Checks: v.Checks})
			logf("  check, %s guests: %.2fs, peak RSS %.0f MB", map[bool]string{true: "hostile", false: "honest"}[hostile], v.Wall, v.PeakRSS/1e6)
		}
	}
	for r := range min(o.reps, 3) {
		for _, hostile := range []bool{r%2 == 0, r%2 != 0} {
			s, err := serveRun(ctx, o, lab, hostile, 19921+r)
			if err != nil {
				return err
			}
			rep.Hostile = append(rep.Hostile, s)
			logf("  serve, %s guests: peak RSS %.0f MB over %d rounds", map[bool]string{true: "hostile", false: "honest"}[hostile], s.PeakRSS/1e6, serveRounds)
		}
	}
	return nil
}

// serveRun runs vmcheck serve (exchange recorder on, the default) over one
// set for serveRounds rounds, scraping /metrics and the status page after
// each, and reads its peak RSS before stopping it.
func serveRun(ctx context.Context, o options, lab *Lab, hostile bool, port int) (report.HostileRun, error) {
	doms := map[bool][]string{true: hostileSet, false: honestSet}[hostile]
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve", "-c", lab.URI, "--external", lab.External, "--timeout", hostileTimeout.String(),
		"--interval", serveInterval.String(), "--web.listen-address", addr, "--log-level", "error"}
	for _, d := range doms {
		args = append(args, "--domain", d)
	}
	cmd := exec.CommandContext(ctx, o.vmcheck, args...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return report.HostileRun{}, fmt.Errorf("vmcheck serve: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for range serveRounds {
		if err := timing.Sleep(ctx, serveInterval); err != nil {
			return report.HostileRun{}, err
		}
		for _, path := range []string{"/metrics", "/"} {
			if resp, err := http.Get("http://" + addr + path); err == nil {
				_ = resp.Body.Close()
			}
		}
	}
	hwm, err := vmHWM(cmd.Process.Pid)
	if err != nil {
		return report.HostileRun{}, err
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	return report.HostileRun{Mode: "serve", Hostile: hostile, Wall: time.Since(start).Seconds(), PeakRSS: hwm}, nil
}

// vmHWM reads a process's peak resident set size (VmHWM) in bytes.
func vmHWM(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}

// childPeakRSS is a finished child's peak RSS in bytes (ru_maxrss, KiB on
// Linux).
func childPeakRSS(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) * 1024
	}
	return 0
}
