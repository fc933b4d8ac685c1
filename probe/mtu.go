package probe

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/osdetect/linux"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// The cause mtu names.
var _ = cause.Register(cause.PathMTUBlackhole, "full-size packets vanish on the path and no \"fragmentation needed\" comes back: set the guest's MTU to the path's (overlay networks take 50 bytes)")

// The mtu method: echo requests with don't-fragment set at the size the
// guest NIC's own MTU allows (three in one command, any reply passes), to
// each external target (to the gateways when there is none). When none is
// answered and no "fragmentation needed" came back, the probe sends, at
// once, the full-size echoes again, plain echoes, the common overlay sizes
// and a full-size echo to the gateway: it names a path-MTU blackhole only
// when the full-size echoes fail again while the plain ones get at least
// half their replies (loss is not a blackhole), with the largest size that
// passed and where the blackhole is. A healthy check costs one guest
// command per target; the NIC's MTU is read once per boot (again after a
// failure).
//
//	Linux (iputils; busybox ping has no -M):  ping -c 3 -A -i 0.2 -W SECS -M do -s SIZE [-6] ADDR
//	                                          cat /sys/class/net/IFACE/mtu
//	Windows:                                  ping.exe -n 3 -w MS -f -l SIZE ADDR (IPv6: no -f)
//	                                          netsh.exe interface ipv4 show subinterfaces
func init() {
	register("mtu", Method{
		Validate: func(*Spec) error { return nil },
		Families: []osdetect.Family{osdetect.Linux, osdetect.Windows},
		Run:      runMTU,
	})
}

// Bounds on an MTU a guest reports; anything else is a guest that lies.
const (
	minMTU = 576
	maxMTU = 65536
)

// mtuSteps are the MTUs tried after a full-size echo failed, the common
// ones of overlays: IPv6's minimum, GRE/IPsec, Geneve, VXLAN.
var mtuSteps = []int{1280, 1400, 1442, 1450}

func runMTU(ctx context.Context, env *Env, s Spec) []Result {
	targets, ifaces := mtuTargets(env)
	out := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = mtuOne(ctx, env, targets[i], ifaces[i])
		}()
	}
	wg.Wait()
	return out
}

// mtuTargets pairs each external target (or, without one, each gateway)
// with the guest interface of the default route of its family.
func mtuTargets(env *Env) ([]netip.Addr, []string) {
	var targets []netip.Addr
	var ifaces []string
	if len(env.External) == 0 {
		for _, g := range env.Gateways {
			targets, ifaces = append(targets, g.Addr), append(ifaces, g.Iface)
		}
		return targets, ifaces
	}
	for _, a := range env.External {
		if g, ok := gatewayFor(env, a); ok {
			targets, ifaces = append(targets, a), append(ifaces, g.Iface)
		}
	}
	return targets, ifaces
}

// gatewayFor returns the first gateway of a's family.
func gatewayFor(env *Env, a netip.Addr) (Gateway, bool) {
	for _, g := range env.Gateways {
		if g.Addr.Is4() == a.Is4() && g.Iface != "" {
			return g, true
		}
	}
	return Gateway{}, false
}

// Echo counts of the mtu method: each guest command sends several
// requests (adaptive, like the icmp method) and passes on any reply, so
// that a lossy path is not taken for a path-MTU blackhole.
const (
	dfCount    = 3 // each don't-fragment echo
	plainCount = 5 // the plain echo after a full-size one failed
	retryCount = 5 // the full-size echo sent again, beside the search
)

// mtuOne probes one target through iface.
func mtuOne(ctx context.Context, env *Env, target netip.Addr, iface string) Result {
	res := Result{Method: "mtu", Target: target.String()}
	mtu, err := nicMTU(ctx, env, iface, true)
	if err != nil {
		return fail(res, err)
	}
	res.Measure.NICMTU = mtu
	full := dfEcho(ctx, env, target, mtu, dfCount)
	switch full.status {
	case Passed:
		res.Status, res.Measure.PathMTU = Passed, mtu
		return res
	case Unavailable, Error:
		res.Status, res.Error = full.status, full.text
		return res
	}
	if full.signalled > 0 {
		return signalled(res, target, full.signalled, mtu)
	}
	env.forget(iface)
	if again, err := nicMTU(ctx, env, iface, false); err == nil && again != mtu {
		res.Measure.NICMTU, mtu = again, again
	}
	return mtuSearch(ctx, env, res, target, iface, mtu)
}

// signalled is the result of a full-size echo that got a "fragmentation
// needed" back: path-MTU discovery works, TCP adapts.
func signalled(res Result, target netip.Addr, pmtu, mtu int) Result {
	res.Status = Passed
	if pmtu > 1 {
		res.Measure.PathMTU = pmtu
	}
	res.Detail = fmt.Sprintf("note: the path to %s carries less than the NIC's MTU %d, and the network says so (fragmentation needed): TCP adapts", target, mtu)
	return res
}

// mtuSearch runs, at once, a plain echo to target, the full-size echo
// again, the common smaller sizes, and a full-size echo to the gateway,
// and names the cause: only when the plain echo gets at least half its
// replies and no full-size echo got one, so that loss is not taken for a
// blackhole.
func mtuSearch(ctx context.Context, env *Env, res Result, target netip.Addr, iface string, mtu int) Result {
	sizes := slices.DeleteFunc(slices.Clone(mtuSteps), func(n int) bool { return n >= mtu })
	gw, hasGW := gatewayFor(env, target)
	hasGW = hasGW && gw.Addr != target && gw.Iface == iface
	echoes := make([]echo, len(sizes)+3)
	var wg sync.WaitGroup
	run := func(i int, f func() echo) {
		wg.Add(1)
		go func() { defer wg.Done(); echoes[i] = f() }()
	}
	run(0, func() echo { return plainEcho(ctx, env, target, plainCount) })
	run(1, func() echo { return dfEcho(ctx, env, target, mtu, retryCount) })
	if hasGW {
		run(2, func() echo { return dfEcho(ctx, env, gw.Addr, mtu, dfCount) })
	}
	for i, n := range sizes {
		run(i+3, func() echo { return dfEcho(ctx, env, target, n, dfCount) })
	}
	wg.Wait()
	plain, again := echoes[0], echoes[1]
	switch {
	case plain.status != Passed:
		res.Status, res.Error = Error, fmt.Sprintf("no answer to a full-size echo, nor to a plain one (%s): not a path-MTU fault", plain.text)
		return res
	case again.status == Passed:
		res.Status, res.Measure.PathMTU = Passed, mtu
		res.Detail = fmt.Sprintf("note: %d-byte echoes to %s were lost once and passed again: loss on the path, not its MTU", mtu, target)
		return res
	case again.signalled > 0:
		return signalled(res, target, again.signalled, mtu)
	case 2*plain.recv < plain.sent:
		res.Status = Error
		res.Error = fmt.Sprintf("the path loses packets (%d of %d plain echoes answered): cannot tell a path-MTU fault from loss", plain.recv, plain.sent)
		return res
	}
	for i, n := range sizes {
		if echoes[i+3].status == Passed {
			res.Measure.PathMTU = n
		}
	}
	res.Status, res.Cause = Failed, cause.PathMTUBlackhole
	res.Error = fmt.Sprintf("plain echoes pass, %d-byte ones with don't-fragment get no answer and no \"fragmentation needed\"", mtu)
	res.Detail = mtuDetail(res, target, mtu, sizes, hasGW, echoes[2])
	return res
}

// mtuDetail is the path_mtu_blackhole evidence and remedy.
func mtuDetail(res Result, target netip.Addr, mtu int, sizes []int, hasGW bool, gw echo) string {
	passed := "none of " + joinInts(sizes) + " passed either"
	if res.Measure.PathMTU > 0 {
		passed = fmt.Sprintf("the largest that passed of %s is %d", joinInts(sizes), res.Measure.PathMTU)
	}
	where := ""
	switch {
	case hasGW && gw.status == Passed:
		where = "; full-size packets reach the gateway, so the blackhole is beyond it (overlay or uplink)"
	case hasGW && gw.status == Failed:
		where = "; full-size packets do not reach the gateway either: the first hop (bridge, tap, overlay port) carries less"
	}
	fix := "set the guest NIC's MTU to the path's (OpenStack: the network's mtu, which DHCP option 26 and the metadata hand to guests)"
	if res.Measure.PathMTU > 0 {
		fix = fmt.Sprintf("set the guest NIC's MTU to %d or the path's (OpenStack: the network's mtu, which DHCP option 26 and the metadata hand to guests)", res.Measure.PathMTU)
	}
	return fmt.Sprintf("path-MTU blackhole to %s: the guest NIC's MTU is %d, packets of that size with don't-fragment get no answer and no \"fragmentation needed\" comes back (%s)%s; %s, or let the network send fragmentation-needed / packet-too-big",
		target, mtu, passed, where, fix)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// echo is what one echo command of the mtu method saw.
type echo struct {
	status Status
	// signalled is the MTU a "fragmentation needed" named (1: one came
	// without a usable MTU; 0: none came).
	signalled  int
	text       string
	sent, recv int
}

// plainEcho sends count ordinary echo requests in one command.
func plainEcho(ctx context.Context, env *Env, target netip.Addr, count int) echo {
	spec := Spec{Method: "icmp", Count: count}
	cmd, err := icmpCommand(env.Family, target, env.Timeout, spec)
	if err != nil {
		return echo{status: Error, text: err.Error()}
	}
	st, err := env.Run(ctx, cmd, 0)
	if err != nil {
		return echo{status: Error, text: execText(cmd.Path, err)}
	}
	r := parseICMP(env.Family, target, st, spec)
	e := echo{status: r.Status, text: r.Error, sent: r.Measure.Sent, recv: r.Measure.Received}
	if e.status == Degraded {
		e.status = Passed
	}
	return e
}

// dfEcho sends count echo requests of mtu bytes (IP header included)
// with don't-fragment set, in one command; any reply passes.
func dfEcho(ctx context.Context, env *Env, target netip.Addr, mtu, count int) echo {
	cmd, err := dfCommand(env.Family, target, mtu, count, env.Timeout)
	if err != nil {
		return echo{status: Error, text: err.Error()}
	}
	st, err := env.Run(ctx, cmd, 0)
	if err != nil {
		if osdetect.IsSpawnFailure(err) {
			return echo{status: Unavailable, text: execText(cmd.Path, err)}
		}
		return echo{status: Error, text: execText(cmd.Path, err)}
	}
	return parseDF(env.Family, target, mtu, count, st)
}

// dfCommand is the icmp method's command of count echo requests to
// target, of mtu bytes with don't-fragment set.
func dfCommand(f osdetect.Family, target netip.Addr, mtu, count int, timeout time.Duration) (guestagent.Command, error) {
	hdr := 28
	if target.Is6() {
		hdr = 48
	}
	size := strconv.Itoa(mtu - hdr)
	cmd, err := icmpCommand(f, target, timeout, Spec{Method: "icmp", Count: count})
	if err != nil {
		return cmd, err
	}
	last := len(cmd.Args) - 1
	head := slices.Clone(cmd.Args[:last])
	switch f {
	case osdetect.Linux:
		head = append(head, "-M", "do", "-s", size)
	case osdetect.Windows:
		if target.Is4() {
			head = append(head, "-f")
		}
		head = append(head, "-l", size)
	default:
		return guestagent.Command{}, fmt.Errorf("no don't-fragment echo for OS family %q", f)
	}
	cmd.Args = append(head, cmd.Args[last])
	return cmd, nil
}

var (
	// linuxFragNeeded is iputils' report of a "fragmentation needed" /
	// "packet too big" answer ("From 192.0.2.1 icmp_seq=1 Frag needed and
	// DF set (mtu = 1280)", "From … Packet too big: mtu=1280") or of the
	// kernel's cached path MTU ("ping: local error: message too long,
	// mtu=1280").
	linuxFragNeeded = regexp.MustCompile(`(?i)(?:frag needed and DF set \(mtu = |packet too big: mtu=|message too long, mtu=)(\d{1,5})`)
	// badOption is busybox's (and others') answer to an option it lacks.
	badOption = regexp.MustCompile(`(?i)(?:invalid|unrecognized|unknown) option|usage: ping`)
	// windowsNeedsFrag is ping.exe's "Packet needs to be fragmented but DF
	// set." (German, code page 850: "Paket müsste fragmentiert werden, DF-Flag ist jedoch
	// gesetzt.").
	windowsNeedsFrag = regexp.MustCompile(`(?i)needs to be fragmented but DF set|fragmentiert werden, DF-Flag`)
)

// parseDF reads a don't-fragment echo command of count requests.
func parseDF(f osdetect.Family, target netip.Addr, mtu, count int, st guestagent.ExecStatus) echo {
	out := append(slices.Clip(st.Stdout[:min(len(st.Stdout), OutputLimit)]), st.Stderr[:min(len(st.Stderr), OutputLimit)]...)
	if f == osdetect.Linux {
		if m := linuxFragNeeded.FindSubmatch(out); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			if n < minMTU || n >= mtu {
				n = 0
			}
			return echo{status: Failed, signalled: max(n, 1), text: "fragmentation needed"}
		}
		if badOption.Match(out) {
			return echo{status: Unavailable, text: "this guest's ping cannot set don't-fragment (busybox ping has no -M; iputils ping has)"}
		}
	} else if windowsNeedsFrag.Match(out) {
		return echo{status: Failed, signalled: 1, text: "packet needs to be fragmented but DF set"}
	}
	r := parseICMP(f, target, st, Spec{Method: "icmp", Count: count})
	e := echo{status: r.Status, text: r.Error, sent: r.Measure.Sent, recv: r.Measure.Received}
	if e.status == Degraded {
		e.status = Passed
	}
	return e
}

// nicMTU returns the MTU of the guest interface iface, remembered for the
// boot when cached is true.
func nicMTU(ctx context.Context, env *Env, iface string, cached bool) (int, error) {
	key := "mtu:" + iface
	if cached && env.Recall != nil {
		if v, ok := env.Recall(key); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n, nil
			}
		}
	}
	cmd, err := mtuCommand(env.Family, iface)
	if err != nil {
		return 0, err
	}
	st, err := env.Run(ctx, cmd, 0)
	if err != nil {
		return 0, &toolError{text: "reading the NIC's MTU: " + execText(cmd.Path, err), missing: osdetect.IsSpawnFailure(err)}
	}
	n, err := parseMTU(env.Family, iface, st)
	if err != nil {
		return 0, err
	}
	if env.Memo != nil {
		env.Memo(key, strconv.Itoa(n))
	}
	return n, nil
}

// forget drops the remembered MTU of iface.
func (env *Env) forget(iface string) {
	if env.Memo != nil {
		env.Memo("mtu:"+iface, "")
	}
}

func mtuCommand(f osdetect.Family, iface string) (guestagent.Command, error) {
	switch f {
	case osdetect.Linux:
		if err := linux.CheckLinuxIface(iface); err != nil {
			return guestagent.Command{}, err
		}
		return guestagent.Command{Path: "cat", Args: []string{"/sys/class/net/" + iface + "/mtu"}, CaptureOutput: true}, nil
	case osdetect.Windows:
		return guestagent.Command{Path: "netsh.exe", Args: []string{"interface", "ipv4", "show", "subinterfaces"}, CaptureOutput: true}, nil
	}
	return guestagent.Command{}, fmt.Errorf("no MTU command for OS family %q", f)
}

// parseMTU reads the NIC's MTU: Linux's sysfs file, or the row of
// netsh's subinterface table whose last column is iface.
func parseMTU(f osdetect.Family, iface string, st guestagent.ExecStatus) (int, error) {
	if st.ExitCode == nil || *st.ExitCode != 0 {
		return 0, fmt.Errorf("reading the NIC's MTU failed: %s", firstLine(st.Stderr))
	}
	out := st.Stdout[:min(len(st.Stdout), OutputLimit)]
	text := ""
	if f == osdetect.Linux {
		text = string(bytes.TrimSpace(out))
	} else {
		text = netshMTU(string(out), iface)
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < minMTU || n > maxMTU {
		return 0, fmt.Errorf("the guest reports an MTU of %q for %s: not between %d and %d", guestagent.Sanitize(text, 16), guestagent.Sanitize(iface, 32), minMTU, maxMTU)
	}
	return n, nil
}

// netshMTU finds iface's MTU in netsh's subinterface table ("  1500  1
// 123  456  Ethernet"): the row named iface, else the one row that is not
// a loopback.
func netshMTU(out, iface string) string {
	var named, only string
	others := 0
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) < 5 {
			continue
		}
		if _, err := strconv.Atoi(fs[0]); err != nil {
			continue
		}
		name := strings.Join(fs[4:], " ")
		if strings.EqualFold(name, iface) {
			named = fs[0]
		}
		if !strings.HasPrefix(strings.ToLower(name), "loopback") {
			only, others = fs[0], others+1
		}
	}
	if named == "" && others == 1 {
		return only
	}
	return named
}
