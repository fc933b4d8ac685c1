package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

// Lab is a running lab, from its env file.
type Lab struct {
	URI      string
	External string // answers pings
	Silent   string // drops echo requests: a plain timeout
	Gateway  string
	script   string
}

// ensureLab makes sure a lab with guests8 answering is up. When there was
// no lab, it brings one up and returns a function taking it down again.
func ensureLab(ctx context.Context, o options) (*Lab, func(), error) {
	script := filepath.Join(o.repo, "lab", "lab.sh")
	status, _ := command(ctx, script, "status")
	var down func()
	switch {
	case !strings.Contains(status, "libvirtd: running"):
		logf("no lab is up: bringing one up with %s (takes a few minutes the first time)", strings.Join(guests8, ","))
		if err := streamed(ctx, script, "up", "--guests", strings.Join(guests8, ",")); err != nil {
			return nil, nil, err
		}
		down = func() {
			logf("taking down the lab this run brought up")
			if err := streamed(context.Background(), script, "down"); err != nil {
				logf("lab down: %v", err)
			}
		}
	case !guestsHealthy(status):
		logf("a lab is up but not every guest needed answers: starting %s", strings.Join(guests8, ","))
		if err := streamed(ctx, script, "up", "--guests", strings.Join(guests8, ",")); err != nil {
			return nil, nil, err
		}
	default:
		logf("using the lab that is already up")
	}
	env, err := readEnv(filepath.Join(o.labDir, "env"))
	if err != nil {
		return nil, down, fmt.Errorf("lab env: %w", err)
	}
	lab := &Lab{URI: env["VMCHECK_LAB_URI"], External: env["VMCHECK_LAB_EXTERNAL4"], Silent: env["VMCHECK_LAB_SILENT4"],
		Gateway: env["VMCHECK_LAB_GATEWAY4"], script: script}
	if lab.URI == "" || lab.External == "" || lab.Silent == "" || lab.Gateway == "" {
		return nil, down, fmt.Errorf("lab env %s lacks VMCHECK_LAB_URI, _EXTERNAL4, _SILENT4 or _GATEWAY4", filepath.Join(o.labDir, "env"))
	}
	return lab, down, nil
}

// guestsHealthy reports whether lab.sh status shows every guest of
// guests8 running with a connected, unfrozen agent.
func guestsHealthy(status string) bool {
	ok := map[string]bool{}
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[1] == "running" && f[2] == "connected" {
			ok[f[0]] = true
		}
	}
	for _, g := range guests8 {
		if !ok[g] {
			return false
		}
	}
	return true
}

// streamed runs a command with its stderr (lab.sh's progress) passed on.
func streamed(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

const pingTimeout = 2 * time.Second

// labBenchmarks runs the lab's main benchmarks into rep: -reps
// repetitions of vmcheck against the baseline for N = 1, 4, 8, each guest
// alone, the floor and the silent external target, then the isolation of a
// frozen agent (its undo queued on cleanups while the fault is on).
func labBenchmarks(ctx context.Context, o options, lab *Lab, rep *report.Results, cleanups *[]func()) error {
	rep.Reps, rep.Guests = o.reps, guests8
	rep.VMCheck, rep.Baseline, rep.Silent = map[int][]report.VMRun{}, map[int][]report.BaselineRun{}, map[int][]report.VMRun{}
	rep.Solo = map[string][]report.VMRun{}

	agent, closeAgent, err := debianAgent(ctx, lab)
	if err != nil {
		return err
	}
	defer closeAgent()

	logf("warm-up: one vmcheck and one baseline round of %s", guests8[0])
	if _, err := runVMCheck(ctx, o, lab, lab.External, guests8[:1]); err != nil {
		return err
	}
	if _, err := runBaseline(ctx, o, lab, guests8[:1]); err != nil {
		return err
	}

	for r := range o.reps {
		if err := labRepetition(ctx, o, lab, agent, rep, r); err != nil {
			return err
		}
	}
	return isolation(ctx, o, lab, rep, cleanups)
}

// labRepetition is repetition r of labBenchmarks: the host's background
// load, vmcheck and the baseline on N = 1, 4, 8 guests, each guest alone,
// the floor, and vmcheck with the silent external target.
func labRepetition(ctx context.Context, o options, lab *Lab, agent *guestagent.Client, rep *report.Results, r int) error {
	idle, err := hostBusy(ctx, func() error { return timing.Sleep(ctx, time.Second) })
	if err != nil {
		return err
	}
	rep.Idle = append(rep.Idle, idle)
	logf("repetition %d of %d (background load: %.0f%% of the host's CPU)", r+1, o.reps, 100*idle)
	for _, n := range []int{1, 4, 8} {
		if err := pairedRuns(ctx, o, lab, rep, r, n); err != nil {
			return err
		}
	}
	for _, g := range guests8 {
		v, err := runVMCheck(ctx, o, lab, lab.External, []string{g})
		if err != nil {
			return err
		}
		rep.Solo[g] = append(rep.Solo[g], v)
	}
	f, err := floorRun(ctx, agent, lab)
	if err != nil {
		return err
	}
	rep.Floor = append(rep.Floor, f)
	logf("  floor %.3fs (guest-ping %.1f ms, ping in guest %.1f/%.1f ms)", f.Floor, 1000*sim.Median(f.PingRTT), 1000*f.PingGateway, 1000*f.PingExternal)
	for _, n := range []int{1, 8} {
		s, err := runVMCheck(ctx, o, lab, lab.Silent, guests8[:n])
		if err != nil {
			return err
		}
		rep.Silent[n] = append(rep.Silent[n], s)
		logf("  vmcheck  N=%d, silent external: %.2fs", n, s.Wall)
	}
	return nil
}

// pairedRuns runs vmcheck and the baseline once each on the first n guests
// of guests8, in repetition r; who goes first alternates.
func pairedRuns(ctx context.Context, o options, lab *Lab, rep *report.Results, r, n int) error {
	doms := guests8[:n]
	vmFirst := (r+n)%2 == 0 // alternate who goes first
	for _, vm := range []bool{vmFirst, !vmFirst} {
		if vm {
			v, err := runVMCheck(ctx, o, lab, lab.External, doms)
			if err != nil {
				return err
			}
			rep.VMCheck[n] = append(rep.VMCheck[n], v)
			logf("  vmcheck  N=%d  %.2fs", n, v.Wall)
		} else {
			b, err := runBaseline(ctx, o, lab, doms)
			if err != nil {
				return err
			}
			rep.Baseline[n] = append(rep.Baseline[n], b)
			logf("  baseline N=%d  %.2fs", n, b.Wall)
		}
	}
	return nil
}

// isolation freezes the agent of lab-freeze (SIGSTOP) and runs rounds with
// it and without it, interleaved; then the guest is reset. The reset sits
// on cleanups while the fault is on.
func isolation(ctx context.Context, o options, lab *Lab, rep *report.Results, cleanups *[]func()) error {
	logf("isolation: freezing the agent of %s", freezeGuest)
	reset := func() {
		logf("resetting %s (undoing the frozen agent)", freezeGuest)
		if err := streamed(context.Background(), lab.script, "fault", "reset", freezeGuest); err != nil {
			logf("fault reset %s: %v", freezeGuest, err)
		}
	}
	*cleanups = append(*cleanups, reset)
	if err := streamed(ctx, lab.script, "fault", "freeze-agent", freezeGuest); err != nil {
		return err
	}
	others := slices.DeleteFunc(slices.Clone(guests8), func(g string) bool { return g == freezeGuest })
	for r := range o.reps {
		for _, with := range []bool{r%2 == 0, r%2 != 0} {
			doms, runs := others, &rep.IsoWithout
			if with {
				doms, runs = guests8, &rep.IsoWith
			}
			v, err := runVMCheck(ctx, o, lab, lab.External, doms, "--timeout", "8s")
			if err != nil {
				return err
			}
			*runs = append(*runs, v)
			logf("  isolation rep %d, frozen agent %s: %.2fs", r+1, map[bool]string{true: "in the round", false: "left out"}[with], v.Wall)
		}
	}
	// Undo the fault now rather than at exit; drop the pending cleanup.
	*cleanups = (*cleanups)[:len(*cleanups)-1]
	reset()
	return nil
}

// runVMCheck runs `vmcheck check` on doms and decodes its report.
func runVMCheck(ctx context.Context, o options, lab *Lab, external string, doms []string, extra ...string) (report.VMRun, error) {
	args := []string{"check", "-c", lab.URI, "--external", external, "--ping-timeout", pingTimeout.String(), "--output", "json"}
	for _, d := range doms {
		args = append(args, "--domain", d)
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, o.vmcheck, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	wall, busy, use, err := timedRun(ctx, o, cmd)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return report.VMRun{}, fmt.Errorf("vmcheck: %w", err)
	}
	if code == output.ExitError || code < 0 {
		return report.VMRun{}, fmt.Errorf("vmcheck %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	var decoded model.Report
	if err := json.Unmarshal([]byte(out.String()), &decoded); err != nil {
		return report.VMRun{}, fmt.Errorf("vmcheck output: %w", err)
	}
	if len(decoded.Domains) != len(doms) {
		return report.VMRun{}, fmt.Errorf("vmcheck checked %d domains, want %d (%s)", len(decoded.Domains), len(doms), strings.Join(doms, " "))
	}
	v := report.VMRun{N: len(doms), Wall: wall.Seconds(), Code: code, Checks: map[string]float64{}, States: map[string]string{}, HostBusy: busy, CPU: use,
		PeakRSS: childPeakRSS(cmd)}
	for _, d := range decoded.Domains {
		v.Checks[d.Name] = d.Duration
		v.States[d.Name] = string(d.State)
	}
	return v, nil
}

// timedRun runs cmd and measures its wall time, the host's background load
// and the CPU used by the tool and by the lab.
func timedRun(ctx context.Context, o options, cmd *exec.Cmd) (wall time.Duration, busy float64, use report.CPUUse, err error) {
	busy, _ = hostBusy(ctx, func() error {
		use = o.labCPU(func() {
			start := time.Now()
			err = cmd.Run()
			wall = time.Since(start)
		})
		use.Tool = childCPU(cmd)
		return nil
	})
	return wall, busy, use, err
}

// runBaseline runs bench/baseline.sh on doms.
func runBaseline(ctx context.Context, o options, lab *Lab, doms []string) (report.BaselineRun, error) {
	args := append([]string{o.baseline, "-c", lab.URI, "-e", lab.External, "-W", strconv.Itoa(int(pingTimeout.Seconds()))}, doms...)
	cmd := exec.CommandContext(ctx, "bash", args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	wall, busy, use, err := timedRun(ctx, o, cmd)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return report.BaselineRun{}, fmt.Errorf("baseline: %w: %s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(doms) {
		return report.BaselineRun{}, fmt.Errorf("baseline reported %d domains, want %d: %q", len(lines), len(doms), out.String())
	}
	return report.BaselineRun{N: len(doms), Wall: wall.Seconds(), Lines: lines, HostBusy: busy, CPU: use}, nil
}

// floorRun measures the floor of one check of lab-debian directly.
func floorRun(ctx context.Context, ga *guestagent.Client, lab *Lab) (report.FloorRun, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var f report.FloorRun
	for range 10 {
		t := time.Now()
		if err := ga.Ping(ctx); err != nil {
			return f, fmt.Errorf("floor: %w", err)
		}
		f.PingRTT = append(f.PingRTT, time.Since(t).Seconds())
	}

	// The minimal check: both pings started, then each status read until
	// it has exited.
	secs := strconv.Itoa(int(pingTimeout.Seconds()))
	start := time.Now()
	var pids []int64
	for _, target := range []string{lab.External, lab.Gateway} {
		t := time.Now()
		pid, err := ga.Exec(ctx, guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", secs, target}, CaptureOutput: true})
		if err != nil {
			return f, fmt.Errorf("floor: %w", err)
		}
		f.ExecRTT = append(f.ExecRTT, time.Since(t).Seconds())
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		for {
			t := time.Now()
			st, err := ga.ExecStatus(ctx, pid)
			if err != nil {
				return f, fmt.Errorf("floor: %w", err)
			}
			f.StatusRTT = append(f.StatusRTT, time.Since(t).Seconds())
			if st.Exited {
				if st.ExitCode == nil || *st.ExitCode != 0 {
					return f, fmt.Errorf("floor: a ping from %s failed: %s", guests8[0], st.Stdout)
				}
				break
			}
		}
	}
	f.Floor = time.Since(start).Seconds()

	// Each ping's runtime in the guest, as the agent sees it: from the
	// guest-exec reply (the agent answers once it has spawned the
	// process) to the middle of the first guest-exec-status call that
	// reports it exited, polled back to back.
	for _, target := range []struct {
		addr string
		into *float64
	}{{lab.Gateway, &f.PingGateway}, {lab.External, &f.PingExternal}} {
		pid, err := ga.Exec(ctx, guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", secs, target.addr}, CaptureOutput: true})
		if err != nil {
			return f, fmt.Errorf("floor: %w", err)
		}
		spawned := time.Now()
		for {
			sent := time.Now()
			st, err := ga.ExecStatus(ctx, pid)
			if err != nil {
				return f, fmt.Errorf("floor: %w", err)
			}
			if st.Exited {
				*target.into = (sent.Sub(spawned) + time.Since(sent)/2).Seconds()
				break
			}
		}
	}
	return f, nil
}

// cpuJiffies returns the host's total and idle (idle + iowait) CPU time
// from /proc/stat.
func cpuJiffies() (total, idle uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i < 8 { // user nice system idle iowait irq softirq steal
			total += n
		}
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return total, idle, nil
}

// hostBusy runs f and returns the fraction of the host's CPU time that was
// busy meanwhile.
func hostBusy(ctx context.Context, f func() error) (float64, error) {
	t0, i0, err := cpuJiffies()
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	t1, i1, err := cpuJiffies()
	if err != nil || t1 == t0 {
		return 0, err
	}
	return 1 - float64(i1-i0)/float64(t1-t0), nil
}

// labCPU runs f and returns the CPU time the lab's QEMU processes and its
// libvirtd used meanwhile (Tool is left to the caller).
func (o options) labCPU(f func()) report.CPUUse {
	qemu, libvirtd := o.labPIDs()
	q0, l0 := procCPU(qemu), procCPU(libvirtd)
	f()
	return report.CPUUse{QEMU: procCPU(qemu) - q0, Libvirtd: procCPU(libvirtd) - l0}
}

// labPIDs returns the pids of the lab guests' QEMU processes and of the
// lab's libvirtd.
func (o options) labPIDs() (qemu, libvirtd []int) {
	if b, err := os.ReadFile(filepath.Join(o.labDir, "pid", "libvirtd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			libvirtd = append(libvirtd, pid)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(filepath.Base(string(cmdline[:max(0, strings.IndexByte(string(cmdline), 0))])), "qemu-system") &&
			strings.Contains(string(cmdline), "guest=lab-") {
			qemu = append(qemu, pid)
		}
	}
	return qemu, libvirtd
}

// procCPU sums the user and system time of pids, in seconds.
func procCPU(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100 // USER_HZ
	}
	return total
}

// childCPU is the CPU time of a finished command and of the children it
// waited for.
func childCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}
