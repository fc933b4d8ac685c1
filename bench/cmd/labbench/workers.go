package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/bench/report"
	"github.com/vmcheck/vmcheck/bench/sim"
	"github.com/vmcheck/vmcheck/model"
)

// The libvirtd-workers benchmark (issue 23 item 6): the lab's libvirtd is
// given a low max_workers (virt-admin srv-threadpool-set, at run time;
// put back afterwards), then one `vmcheck check` round over the eight
// guests of the N = 8 round at the shipped defaults, while `virsh list` is timed over
// and over beside it: the round must get no libvirt overload error and
// `virsh list` must stay within twice its idle latency. A contrast round
// with --agent-calls well above max_workers shows what the limit spares.
var workersLow = []int{4, 2}

const (
	workersIdleSamples = 15
	workersGoal        = 2.0 // virsh list during the round ÷ idle, at most
)

// overloadRe matches what libvirt says when it refuses, drops or times
// out a client for want of resources.
var overloadRe = regexp.MustCompile(`(?i)keepalive|too many|connection reset|cannot recv|overload|max_client|cannot acquire state change lock`)

// workersBenchmarks runs the rounds, putting max_workers back at the end.
func workersBenchmarks(ctx context.Context, o options, lab *Lab, rep *report.Results) error {
	admin, err := adminURI(lab.URI)
	if err != nil {
		return err
	}
	minW, maxW, err := threadPool(ctx, admin)
	if err != nil {
		return err
	}
	defer func() {
		if _, err := command(context.Background(), "virt-admin", "-c", admin, "srv-threadpool-set", "libvirtd",
			"--max-workers", strconv.Itoa(maxW), "--min-workers", strconv.Itoa(minW)); err != nil {
			logf("putting libvirtd's max_workers back to %d: %v", maxW, err)
		}
	}()
	for _, w := range workersLow {
		if _, err := command(ctx, "virt-admin", "-c", admin, "srv-threadpool-set", "libvirtd",
			"--min-workers", strconv.Itoa(min(minW, w)), "--max-workers", strconv.Itoa(w)); err != nil {
			return err
		}
		for _, flags := range [][]string{nil, {"--agent-calls", "32"}} {
			r, err := workersRound(ctx, o, lab, w, flags)
			if err != nil {
				return err
			}
			logf("  max_workers %d, vmcheck %s: %d domains in %.2fs (agent calls %d), %d unresponsive, %d overload errors; virsh list %s idle, %s during the round",
				w, cmp.Or(strings.Join(flags, " "), "(defaults)"), r.Domains, r.Wall, r.AgentCalls, r.Unresponsive, len(r.Overload),
				report.Secs(sim.Median(r.IdleList)), report.Secs(sim.Median(r.RoundList)))
			rep.Workers = append(rep.Workers, r)
		}
	}
	return nil
}

// workersRound times virsh list idle, then during one vmcheck round.
func workersRound(ctx context.Context, o options, lab *Lab, maxWorkers int, flags []string) (report.WorkersRun, error) {
	r := report.WorkersRun{MaxWorkers: maxWorkers, Flags: strings.Join(flags, " "), States: map[string]string{}}
	for range workersIdleSamples {
		d, err := virshList(ctx, lab.URI)
		if err != nil {
			return r, err
		}
		r.IdleList = append(r.IdleList, d.Seconds())
	}
	args := []string{"check", "-c", lab.URI, "--external", lab.External, "--output", "json", "--log-level", "debug"}
	for _, d := range guests8 {
		args = append(args, "--domain", d)
	}
	args = append(args, flags...)
	cmd := exec.CommandContext(ctx, o.vmcheck, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("vmcheck: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runErr error
	for waiting := true; waiting; {
		select {
		case runErr = <-done:
			waiting = false
		default:
			d, err := virshList(ctx, lab.URI)
			if err != nil {
				return r, err
			}
			r.RoundList = append(r.RoundList, d.Seconds())
		}
	}
	r.Wall = time.Since(start).Seconds()
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		r.Code = ee.ExitCode()
	} else if runErr != nil {
		return r, fmt.Errorf("vmcheck: %w", runErr)
	}
	if m := regexp.MustCompile(`agent_calls=(\d+)`).FindStringSubmatch(errb.String()); m != nil {
		r.AgentCalls, _ = strconv.Atoi(m[1])
	}
	if i := slices.Index(flags, "--agent-calls"); i >= 0 && i+1 < len(flags) {
		r.AgentCalls, _ = strconv.Atoi(flags[i+1]) // set, not derived: nothing logged
	}
	var decoded model.Report
	if err := json.Unmarshal([]byte(out.String()), &decoded); err != nil {
		return r, fmt.Errorf("vmcheck output (exit %d, %s): %w", r.Code, strings.TrimSpace(errb.String()), err)
	}
	r.Domains = len(decoded.Domains)
	for _, d := range decoded.Domains {
		r.States[d.Name] = string(d.State)
		if d.Agent.State == model.AgentUnresponsive {
			r.Unresponsive++
		}
		if overloadRe.MatchString(d.Reason) {
			r.Overload = append(r.Overload, d.Name+": "+d.Reason)
		}
	}
	return r, nil
}

// virshList times one `virsh list` against the lab's libvirtd.
func virshList(ctx context.Context, uri string) (time.Duration, error) {
	start := time.Now()
	if _, err := command(ctx, "virsh", "-c", uri, "list"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// adminURI is the admin URI of the lab's libvirtd: its admin socket
// beside the socket of uri.
func adminURI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	sock := u.Query().Get("socket")
	if !strings.HasSuffix(sock, "/libvirt-sock") {
		return "", fmt.Errorf("lab URI %q names no libvirt-sock socket", uri)
	}
	return "libvirtd:///system?socket=" + path.Join(path.Dir(sock), "libvirt-admin-sock"), nil
}

// threadPool reads libvirtd's min and max workers.
func threadPool(ctx context.Context, admin string) (minW, maxW int, err error) {
	out, err := command(ctx, "virt-admin", "-c", admin, "srv-threadpool-info", "libvirtd")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(v))
		switch strings.TrimSpace(k) {
		case "minWorkers":
			minW = n
		case "maxWorkers":
			maxW = n
		}
	}
	if maxW == 0 {
		return 0, 0, fmt.Errorf("virt-admin srv-threadpool-info: no maxWorkers in %q", out)
	}
	return minW, maxW, nil
}
