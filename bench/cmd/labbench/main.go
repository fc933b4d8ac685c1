// Command labbench runs vmcheck's benchmarks against the lab (lab/lab.sh)
// and the simulator (bench/cmd/simbench), and prints the table of
// BENCHMARKS.md: every figure with the command that produced it, the target
// and whether it was met. Raw samples go to OUT/lab.json and OUT/sim-*.json.
//
//	go run ./bench/cmd/labbench -vmcheck bin/vmcheck -out bench/results
//
// It brings the lab up when there is none (and takes it down again at the
// end), starts the guests it needs when they are missing, and undoes the
// faults it injects (a frozen agent on lab-freeze; the host link of
// lab-debian, cut and put back for the time to detect, which also runs
// Debian's Prometheus on loopback). Runs of vmcheck and
// of the baseline script (bench/baseline.sh) are interleaved, repeated
// -reps times, and reported as medians and ratios of medians: the lab's
// guests are TCG VMs sharing the host's cores, so single runs are noisy.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
)

// The guests of the N = 1, 4, 8 rounds, in this order: the six lab guests
// whose checks pass (Debian/iputils, busybox without os-release, the
// emulated Windows, two NICs, IPv6 gateway, and lab-freeze, healthy until
// the isolation benchmark freezes it), then lab-noping (no ping in the
// guest) and lab-noexec (guest-exec blocked). lab-badgw is left out: its
// gateway never answers, so its check always lasts the ping timeout and
// would measure the guest, not the tool.
var guests8 = []string{
	"lab-debian", "lab-busybox", "lab-windows", "lab-twonic",
	"lab-ipv6", "lab-freeze", "lab-noping", "lab-noexec",
}

const freezeGuest = "lab-freeze"

// options are labbench's flags.
type options struct {
	repo        string
	out         string
	vmcheck     string
	reps        int
	keepLab     bool
	skipLab     bool
	skipSim     bool
	hostileOnly bool
	detectOnly  bool
	policyOnly  bool
	workersOnly bool
	simOnly     string
	detectReps  int
	simN        int
	labDir      string
	goBench     string
	simReps     int
	baseline    string
	simbench    string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "labbench:", err)
		os.Exit(1)
	}
}

func run() error {
	o := parseOptions()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &report.Results{Machine: machine(), Started: time.Now().UTC()}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	if !o.skipLab {
		if err := labRuns(ctx, o, rep, &cleanups); err != nil {
			return err
		}
	}
	if !o.skipSim {
		if err := simBenchmarks(ctx, o, rep); err != nil {
			return err
		}
	}
	rep.Finished = time.Now().UTC()
	return writeResults(o, rep)
}

// parseOptions parses labbench's flags.
func parseOptions() options {
	var o options
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.out, "out", "bench/results", "directory for raw results and table.md")
	flag.StringVar(&o.vmcheck, "vmcheck", "bin/vmcheck", "vmcheck binary to measure")
	flag.IntVar(&o.reps, "reps", 5, "repetitions of every lab measurement (≥ 5)")
	flag.BoolVar(&o.keepLab, "keep-lab", false, "leave a lab this run brought up running")
	flag.BoolVar(&o.skipLab, "skip-lab", false, "skip the lab benchmarks (simulator only)")
	flag.BoolVar(&o.skipSim, "skip-sim", false, "skip the simulator benchmarks")
	flag.BoolVar(&o.hostileOnly, "hostile-only", false, "of the lab benchmarks, run only the hostile-guest ones")
	flag.IntVar(&o.detectReps, "detect-reps", 4, "link cuts of the time-to-detect benchmark (each takes about 3 minutes)")
	flag.BoolVar(&o.detectOnly, "detect-only", false, "of the lab benchmarks, run only the time-to-detect one")
	flag.BoolVar(&o.policyOnly, "policy-only", false, "of the lab benchmarks, run only the probe-method one")
	flag.BoolVar(&o.workersOnly, "workers-only", false, "of the lab benchmarks, run only the libvirtd max_workers one")
	flag.IntVar(&o.simN, "sim-domains", 1000, "simulated domains")
	flag.StringVar(&o.simOnly, "sim-only", "", "run only the simulator configurations whose name contains this")
	flag.IntVar(&o.simReps, "sim-rounds", 5, "rounds per simulator run")
	flag.StringVar(&o.goBench, "gobench", "", "benchstat output of the Go benchmarks to include")
	flag.StringVar(&o.simbench, "simbench", "", "simbench binary (default: go build it)")
	flag.Parse()
	o.labDir = os.Getenv("VMCHECK_LAB_DIR")
	if o.labDir == "" {
		o.labDir = "/var/tmp/vmcheck-lab"
	}
	o.baseline = filepath.Join(o.repo, "bench", "baseline.sh")
	return o
}

// labRuns makes sure the lab is up (queuing its teardown on cleanups when
// this run brought it up and -keep-lab is off) and runs the lab benchmarks
// the -*-only flags select (all when none is set).
func labRuns(ctx context.Context, o options, rep *report.Results, cleanups *[]func()) error {
	lab, down, err := ensureLab(ctx, o)
	if err != nil {
		return err
	}
	if down != nil && !o.keepLab {
		*cleanups = append(*cleanups, down)
	}
	only := o.hostileOnly || o.detectOnly || o.policyOnly || o.workersOnly
	steps := []struct {
		run bool
		do  func() error
	}{
		{!only, func() error { return labBenchmarks(ctx, o, lab, rep, cleanups) }},
		{!only || o.policyOnly, func() error { return policyBenchmarks(ctx, o, lab, rep) }},
		{!only || o.hostileOnly, func() error { return hostileBenchmarks(ctx, o, lab, rep) }},
		{!only || o.workersOnly, func() error { return workersBenchmarks(ctx, o, lab, rep) }},
		{!only || o.detectOnly, func() error { return detectBenchmarks(ctx, o, lab, rep) }},
	}
	for _, s := range steps {
		if !s.run {
			continue
		}
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

// writeResults writes OUT/results.json and OUT/table.md (with the Go
// benchmarks of -gobench appended) and prints the table.
func writeResults(o options, rep *report.Results) error {
	if err := writeJSON(filepath.Join(o.out, "results.json"), rep); err != nil {
		return err
	}
	table := report.Render(rep, setup())
	if o.goBench != "" {
		if b, err := os.ReadFile(o.goBench); err == nil {
			table += "\n### Go benchmarks (benchstat)\n\n```\n" + string(b) + "```\n"
		}
	}
	if err := os.WriteFile(filepath.Join(o.out, "table.md"), []byte(table), 0o644); err != nil {
		return err
	}
	fmt.Print(table)
	return nil
}

// setup names the parameters of these benchmarks for the table.
func setup() report.Setup {
	return report.Setup{
		PingTimeout: pingTimeout, FreezeGuest: freezeGuest,
		PolicyGuest: policyGuest, FullPolicy: fullPolicy(&Lab{External: "EXT"}),
		HostileSet: hostileSet, HonestSet: honestSet, ServeInterval: serveInterval, ServeRounds: serveRounds,
		DetectGuest: detectGuest, DetectInterval: detectInterval, DetectRetry: detectRetry,
		DetectDownAfter: detectDownAfter, DetectGoal: detectGoal,
		WorkersGoal: workersGoal,
	}
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// command runs name with args and returns its stdout, failing with its
// stderr.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// machine describes the host.
func machine() report.Machine {
	m := report.Machine{}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m.CPU = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				m.Cores++
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		m.MemoryGiB = float64(kb) / (1 << 20)
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("virsh", "--version").Output(); err == nil {
		m.Libvirt = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		m.QEMU = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	m.Go = runtime.Version()
	return m
}

// readEnv parses the lab's env file (KEY=VALUE lines).
func readEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") || strings.Contains(k, " ") {
			continue
		}
		env[k] = strings.Trim(v, `"`)
	}
	return env, nil
}
