package checker

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/probe"
)

// startMethods starts, each in its own goroutine, the probes of the VM's
// policy that run on their own (every method but icmp, which the pings of
// plan are): the standalone ones (dns, tcp, http: no gateway or target
// needed) when standalone is true, the others when it is false. It
// returns a function that waits for their results. They run while the
// routes are read and the pings run, so a full policy costs about its
// longest probe.
func (c *Checker) startMethods(ctx context.Context, f *facts, plan []plannedProbe, standalone bool) func() []model.ProbeResult {
	var specs []probe.Spec
	for _, s := range f.d.Policy.Probes {
		if s.Method != "icmp" && s.IsStandalone() == standalone {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return func() []model.ProbeResult { return nil }
	}
	env := c.methodEnv(f, plan, !standalone)
	results := make([][]probe.Result, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = probe.RunSpec(ctx, env, s)
		}()
	}
	return func() []model.ProbeResult {
		wg.Wait()
		var out []model.ProbeResult
		for _, rs := range results {
			for _, r := range rs {
				out = append(out, fromMethod(model.ProbeResult{Kind: model.ProbeService}, r))
			}
		}
		return out
	}
}

// methodEnv is what the methods may use of one VM: its agent, a memory
// for its boot, and with targets its external targets (as planned) and
// gateways — which standalone methods, started while discovery still
// writes them, must not read.
func (c *Checker) methodEnv(f *facts, plan []plannedProbe, targets bool) *probe.Env {
	env := &probe.Env{Family: f.os.Family, Timeout: time.Duration(c.cfg.PingTimeout)}
	once := &sameCommand{calls: map[string]*commandCall{}}
	env.Run = func(ctx context.Context, cmd guestagent.Command, wait time.Duration) (guestagent.ExecStatus, error) {
		return once.do(cmd, wait, func() (guestagent.ExecStatus, error) { return c.runTimed(ctx, f, cmd, wait) })
	}
	for _, p := range plan {
		if p.res.Kind == model.ProbeExternal && p.target.IsValid() {
			env.External = append(env.External, p.target)
		}
	}
	for _, n := range f.nics {
		if targets && n.gateway.IsValid() {
			env.Gateways = append(env.Gateways, probe.Gateway{Addr: n.gateway, Iface: n.guestName})
		}
	}
	boot := f.d.BootID
	if boot != "" {
		env.Memo = func(k, v string) { c.boots.Memo(boot, k, v) }
		env.Recall = func(k string) (string, bool) { return c.boots.Recall(boot, k) }
	}
	return env
}

// runTimed runs a method's command and reads its status first when
// commands of its kind (its program and its first argument) took to exit
// before in this boot: a command that ends as expected costs two agent
// calls, guest-exec and one guest-exec-status.
//
// wait, when positive, bounds the command's own run: from the guest-exec
// reply to its exit (probe.Env.Run).
func (c *Checker) runTimed(ctx context.Context, f *facts, cmd guestagent.Command, wait time.Duration) (guestagent.ExecStatus, error) {
	key := cmd.Path
	if len(cmd.Args) > 0 {
		key += " " + cmd.Args[0]
	}
	pid, err := f.agent.Exec(ctx, cmd)
	if err != nil {
		return guestagent.ExecStatus{}, err
	}
	start := time.Now()
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	st, reads, err := f.agent.WaitAfter(ctx, pid, probe.OutputLimit, c.boots.Took(f.d.BootID, key))
	if err == nil {
		c.boots.LearnTime(f.d.BootID, key, time.Since(start), reads)
	}
	return st, err
}

// sameCommand runs a guest command once per group of probes started
// together when several ask for the very same one (a tcp probe of
// host:80 and an http probe of http://host/ both run the same curl): the
// guest, often one vCPU, runs it once, and each probe reads the one
// result.
type sameCommand struct {
	mu    sync.Mutex
	calls map[string]*commandCall
}

// commandCall is one command's run, shared.
type commandCall struct {
	done chan struct{}
	st   guestagent.ExecStatus
	err  error
}

// do runs run for cmd and wait, or waits for the run already started.
func (s *sameCommand) do(cmd guestagent.Command, wait time.Duration, run func() (guestagent.ExecStatus, error)) (guestagent.ExecStatus, error) {
	key := fmt.Sprintf("%q %q %q %v %s", cmd.Path, cmd.Args, cmd.Env, cmd.CaptureOutput, wait)
	if len(cmd.Input) > 0 {
		return run()
	}
	s.mu.Lock()
	if c, ok := s.calls[key]; ok {
		s.mu.Unlock()
		<-c.done
		return c.st, c.err
	}
	c := &commandCall{done: make(chan struct{})}
	s.calls[key] = c
	s.mu.Unlock()
	c.st, c.err = run()
	close(c.done)
	return c.st, c.err
}

// fromMethod lays a method's result over base (kind, target and NIC of
// the planned probe).
func fromMethod(base model.ProbeResult, r probe.Result) model.ProbeResult {
	p := base
	p.Method = r.Method
	if p.Target == "" {
		p.Target = r.Target
	}
	switch r.Status {
	case probe.Passed:
		p.OK, p.Status = true, model.ProbePassed
	case probe.Degraded:
		p.OK, p.Status = true, model.ProbeDegraded
	case probe.Failed:
		p.Status = model.ProbeFailed
	case probe.Unavailable:
		p.Status = model.ProbeUnavailable
	default:
		p.Status = model.ProbeError
	}
	m := r.Measure
	p.RTT, p.RTTMin, p.RTTMax = m.RTT.Seconds(), m.RTTMin.Seconds(), m.RTTMax.Seconds()
	if m.Sent > 1 {
		p.Sent, p.Received, p.Loss = m.Sent, m.Received, m.Loss
	}
	if p.Sent == 0 {
		p.RTTMin, p.RTTMax = 0, 0
	}
	p.NICMTU, p.PathMTU, p.HTTPStatus = m.NICMTU, m.PathMTU, m.HTTPStatus
	for _, a := range m.Addrs {
		p.Addresses = append(p.Addresses, netip.Addr.String(a))
	}
	p.Error = r.Error
	if r.Cause != "" {
		p.Cause, p.CauseDetail = model.Code(r.Cause), r.Detail
		if p.CauseDetail == "" {
			p.CauseDetail = r.Target + ": " + r.Error
		}
	} else {
		p.Note = r.Detail
	}
	return p
}
