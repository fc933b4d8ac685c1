// Package sim simulates QEMU guest agents behind vmcheck's one agent seam,
// guestagent.Transport, so that the checker engine can be driven at a
// scale no lab reaches (a thousand domains on one laptop) with reply
// latencies measured in the lab.
//
// A Guest answers like qemu-ga 7.2 on Debian 12 does through libvirt: the
// guest-info, guest-get-osinfo and guest-network-get-interfaces replies
// follow the captures in testdata/qga, guest-file-* serves /proc/net/route
// and /proc/net/ipv6_route, guest-exec starts a simulated iputils ping (or
// fails to spawn anything else, as a Linux agent does for cmd.exe), and
// guest-exec-status reports it running until its runtime has passed, then
// exited, exactly once. The guest-exec and guest-file-* semantics are
// agenttest.Guest's, the ones the checker's unit tests run against. Like
// libvirt, a Guest runs one agent command at a time: a second caller waits
// for the first.
package sim

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/internal/timing"
)

// Latency is how long a simulated agent takes. The defaults (DefaultLatency)
// come from the lab; `make bench` measures them again and passes them in.
type Latency struct {
	// RoundTrip is the time one agent command takes through libvirt, from
	// the call to the reply, for a command the agent answers at once
	// (guest-ping, guest-info, guest-exec-status, guest-file-*).
	RoundTrip time.Duration
	// Exec is the time a guest-exec call takes (the agent forks and execs
	// before it answers).
	Exec time.Duration
	// PingReply is how long a ping that gets its reply runs in the guest,
	// from the guest-exec reply to its exit.
	PingReply time.Duration
	// Jitter spreads every latency uniformly by ±Jitter (a fraction, e.g.
	// 0.2 for ±20 %).
	Jitter float64
}

// DefaultLatency holds medians measured in the lab (libvirt 9.0, QEMU 7.2
// TCG guests, 2 host cores, 8 guests up); see BENCHMARKS.md.
var DefaultLatency = Latency{
	RoundTrip: 6 * time.Millisecond,
	Exec:      12 * time.Millisecond,
	PingReply: 40 * time.Millisecond,
	Jitter:    0.2,
}

// Personality is the guest userland a Guest imitates.
type Personality int

// Personalities.
const (
	// Debian has /etc/os-release (guest-get-osinfo gives id "debian") and
	// iputils ping.
	Debian Personality = iota
	// Busybox has no os-release, so guest-get-osinfo gives no id and
	// vmcheck probes with cmd.exe, which the agent cannot spawn.
	Busybox
)

// Guest is one simulated domain's guest agent. Its zero value is not
// usable; use NewGuest.
type Guest struct {
	lat      Latency
	pers     Personality
	mac      string
	addr     netip.Prefix
	gateway  netip.Addr
	external map[netip.Addr]bool // targets that answer; others time out
	frozen   bool
	daemon   *Daemon

	job sync.Mutex // libvirt runs one agent job per domain at a time

	agent *agenttest.Agent // decodes requests, encodes replies
	exec  *agenttest.Guest // guest-exec and guest-file-* state

	mu    sync.Mutex
	rng   *rand.Rand
	calls int
}

// GuestConfig describes a Guest.
type GuestConfig struct {
	// Index makes the guest's MAC address, address and random stream
	// unique; guests with the same Index answer identically.
	Index int
	// Personality is the guest's userland.
	Personality Personality
	// Latency is how long the agent takes (zero: DefaultLatency).
	Latency *Latency
	// Answering lists the targets that answer a ping besides the gateway.
	// Pings to other addresses get no reply and run their full timeout.
	Answering []netip.Addr
	// DeadGateway makes the gateway not answer.
	DeadGateway bool
	// Frozen makes the agent hang: every command blocks until its context
	// ends, like a SIGSTOPped qemu-ga.
	Frozen bool
	// Daemon is the libvirtd the guest's agent commands go through; nil
	// means an unlimited one.
	Daemon *Daemon
}

// Daemon models libvirtd's worker pool: an agent command occupies one
// worker thread from the moment libvirtd reads the RPC until the agent's
// reply (qemuAgentCommand waits on the thread), and libvirtd has
// max_workers of them (20 by default), shared by every client and domain.
type Daemon struct {
	workers chan struct{}
}

// NewDaemon returns a daemon with n worker threads (libvirtd's max_workers).
func NewDaemon(n int) *Daemon {
	return &Daemon{workers: make(chan struct{}, max(n, 1))}
}

// acquire takes a worker, or fails when ctx ends first.
func (d *Daemon) acquire(ctx context.Context) error {
	if d == nil {
		return nil
	}
	select {
	case d.workers <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Daemon) release() {
	if d != nil {
		<-d.workers
	}
}

// NewGuest returns a simulated guest agent. The guest's interface eth0 has
// MAC 52:54:00:XX:XX:XX and address 10.x.y.z/16 from cfg.Index, and its
// default route goes through the first address of that subnet.
func NewGuest(cfg GuestConfig) *Guest {
	lat := DefaultLatency
	if cfg.Latency != nil {
		lat = *cfg.Latency
	}
	i := uint32(cfg.Index)
	// 10.0.0.0/8 is not a documentation range, but these addresses never
	// reach a socket: they only appear in simulated agent replies.
	subnet := netip.AddrFrom4([4]byte{10, byte(i >> 8 & 0xff), 0, 0})
	host := netip.AddrFrom4([4]byte{10, byte(i >> 8 & 0xff), byte(i & 0xff), 10})
	g := &Guest{
		lat:      lat,
		pers:     cfg.Personality,
		mac:      fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i)),
		addr:     netip.PrefixFrom(host, 16),
		gateway:  subnet.Next(),
		external: make(map[netip.Addr]bool),
		frozen:   cfg.Frozen,
		daemon:   cfg.Daemon,
		rng:      rand.New(rand.NewPCG(uint64(cfg.Index), 0x766d636865636b)),
	}
	for _, a := range cfg.Answering {
		g.external[a] = true
	}
	if !cfg.DeadGateway {
		g.external[g.gateway] = true
	}
	g.exec = &agenttest.Guest{
		Files: map[string][]byte{"/proc/net/route": g.routeFile(), "/proc/net/ipv6_route": g.ipv6RouteFile(),
			"/sys/class/net/eth0/mtu": []byte("1500\n")},
		Spawn: g.spawn,
		Next:  g.answer,
	}
	g.agent = agenttest.NewContext(g.command)
	return g
}

// MAC returns the guest NIC's MAC address.
func (g *Guest) MAC() guestagent.MAC {
	mac, _ := guestagent.ParseMAC(g.mac)
	return mac
}

// Gateway returns the guest's default gateway.
func (g *Guest) Gateway() netip.Addr { return g.gateway }

// Calls returns how many agent commands the guest has answered.
func (g *Guest) Calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

var _ guestagent.Transport = (*Guest)(nil)

// Command answers one agent request after the simulated latency. It
// honours ctx like libvirthost.Pool does: when ctx ends first it
// returns an error wrapping guestagent.ErrUnresponsive and ctx.Err().
func (g *Guest) Command(ctx context.Context, request []byte) ([]byte, error) {
	return g.agent.Command(ctx, request)
}

// command waits its turn and the simulated latency, then answers.
func (g *Guest) command(ctx context.Context, cmd string, args json.RawMessage) (any, error) {
	if err := g.daemon.acquire(ctx); err != nil {
		return nil, unresponsive(err)
	}
	defer g.daemon.release()
	if err := acquire(ctx, &g.job); err != nil {
		return nil, unresponsive(err)
	}
	defer g.job.Unlock()
	if g.frozen {
		<-ctx.Done()
		return nil, unresponsive(ctx.Err())
	}
	lat := g.lat.RoundTrip
	if cmd == "guest-exec" {
		lat = g.lat.Exec
	}
	if err := timing.Sleep(ctx, g.jitter(lat)); err != nil {
		return nil, unresponsive(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	return g.exec.Answer(cmd, args)
}

// acquire locks mu unless ctx ends first.
func acquire(ctx context.Context, mu *sync.Mutex) error {
	if mu.TryLock() {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if mu.TryLock() {
				return nil
			}
		}
	}
}

func unresponsive(err error) error {
	return fmt.Errorf("sim: %w: %w", guestagent.ErrUnresponsive, err)
}

func (g *Guest) jitter(d time.Duration) time.Duration {
	if g.lat.Jitter <= 0 || d <= 0 {
		return d
	}
	g.mu.Lock()
	f := 1 + g.lat.Jitter*(2*g.rng.Float64()-1)
	g.mu.Unlock()
	return time.Duration(float64(d) * f)
}

// Replies of the simulated Debian 12 agent (testdata/qga/linux-basic.jsonl).
var (
	debianOSInfo  = json.RawMessage(`{"name": "Debian GNU/Linux", "kernel-release": "6.1.0-37-amd64", "version": "12 (bookworm)", "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version-id": "12", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)", "machine": "x86_64", "id": "debian"}`)
	busyboxOSInfo = json.RawMessage(`{"kernel-release": "6.1.0-37-amd64", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)", "machine": "x86_64"}`)
)

// answer answers the commands agenttest.Guest leaves to it. g.mu is held.
func (g *Guest) answer(cmd string, _ json.RawMessage) (any, error) {
	switch cmd {
	case "guest-ping", "guest-sync":
		return nil, nil
	case "guest-info":
		return guestInfo, nil
	case "guest-get-osinfo":
		if g.pers == Busybox {
			return busyboxOSInfo, nil
		}
		return debianOSInfo, nil
	case "guest-network-get-interfaces":
		return g.interfaces(), nil
	}
	return nil, agenttest.NotFound(cmd)
}

// interfaces is guest-network-get-interfaces: lo and eth0.
func (g *Guest) interfaces() json.RawMessage {
	return fmt.Appendf(nil, `[{"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}, {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}], "statistics": {"tx-packets": 0, "tx-errs": 0, "rx-bytes": 0, "rx-dropped": 0, "rx-packets": 0, "rx-errs": 0, "tx-bytes": 0, "tx-dropped": 0}, "hardware-address": "00:00:00:00:00:00"}, {"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "%s", "prefix": %d}, {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe%s:%s%s", "prefix": 64}], "statistics": {"tx-packets": 1734, "tx-errs": 0, "rx-bytes": 181322, "rx-dropped": 0, "rx-packets": 1802, "rx-errs": 0, "tx-bytes": 160744, "tx-dropped": 0}, "hardware-address": "%s"}]`,
		g.addr.Addr(), g.addr.Bits(), g.mac[9:11], g.mac[12:14], g.mac[15:17], g.mac)
}

// routeFile is /proc/net/route with a default route through the gateway
// and the connected subnet.
func (g *Guest) routeFile() []byte {
	le := func(a netip.Addr) string {
		b := a.As4()
		return fmt.Sprintf("%08X", binary.LittleEndian.Uint32(b[:]))
	}
	mask := netip.AddrFrom4([4]byte{255, 255, 0, 0})
	pad := strings.Repeat(" ", 63)
	return fmt.Appendf(nil, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT%s\n"+
		"eth0\t00000000\t%s\t0003\t0\t0\t0\t00000000\t0\t0\t0%s\n"+
		"eth0\t%s\t00000000\t0001\t0\t0\t0\t%s\t0\t0\t0%s\n",
		pad[:55], le(g.gateway), pad, le(g.addr.Masked().Addr()), le(mask), pad)
}

// ipv6RouteFile is /proc/net/ipv6_route with the link-local route only.
func (g *Guest) ipv6RouteFile() []byte {
	z := strings.Repeat("0", 32)
	return fmt.Appendf(nil, "fe800000000000000000000000000000 40 %s 00 %s 00000100 00000001 00000000 00000001     eth0\n"+
		"%s 00 %s 00 %s ffffffff 00000001 00000000 00200200       lo\n", z, z, z, z, z)
}

// spawn starts a simulated ping; a Linux agent cannot spawn anything
// else the checker runs (cmd.exe, route.exe). g.mu is held.
//
// Debian guests also run the tools of the probe methods (getent, curl):
// each answers after PingReply, as a command that waits on the network.
func (g *Guest) spawn(cmd guestagent.Command) (agenttest.Process, error) {
	now := time.Now()
	switch {
	case cmd.Path == "getent" && g.pers == Debian:
		name := cmd.Args[len(cmd.Args)-1]
		out := fmt.Sprintf("203.0.113.10    STREAM %s\n203.0.113.10    DGRAM\n203.0.113.10    RAW\n", name)
		return exitsAt(now.Add(g.jitterLocked(g.lat.PingReply)), 0, out), nil
	case cmd.Path == "curl" && g.pers == Debian:
		return exitsAt(now.Add(g.jitterLocked(2*g.lat.PingReply)), 0, "200 0.001000 0.002000"), nil
	case cmd.Path != "ping":
		return nil, agenttest.SpawnFailure(cmd.Path)
	}
	p, err := g.ping(cmd.Args)
	if err != nil {
		return nil, &guestagent.Error{Class: "GenericError", Desc: err.Error()}
	}
	return p, nil
}

// ping simulates "ping -c N [-A -i S] [-M do -s SIZE] -W SECS [-6] ADDR"
// of iputils: N requests take PingReply and a millisecond more for each
// after the first (adaptive).
func (g *Guest) ping(args []string) (agenttest.Process, error) {
	wait := 10 * time.Second
	count := 1
	var target netip.Addr
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-W":
			if i+1 < len(args) {
				s, err := strconv.Atoi(args[i+1])
				if err == nil {
					wait = time.Duration(s) * time.Second
				}
				i++
			}
		case "-c":
			if i+1 < len(args) {
				if n, err := strconv.Atoi(args[i+1]); err == nil && n > 0 {
					count = n
				}
			}
			i++
		case "-i", "-M", "-s":
			i++
		case "-6", "-A":
		default:
			a, err := netip.ParseAddr(args[i])
			if err != nil {
				return nil, errors.New("ping: unexpected argument")
			}
			target = a
		}
	}
	now := time.Now()
	if g.external[target] {
		rtt := 0.2 + 0.3*g.rng.Float64()
		out := fmt.Sprintf("PING %[1]s (%[1]s) 56(84) bytes of data.\n64 bytes from %[1]s: icmp_seq=1 ttl=64 time=%.3[2]f ms\n\n--- %[1]s ping statistics ---\n%[3]d packets transmitted, %[3]d received, 0%% packet loss, time 0ms\nrtt min/avg/max/mdev = %.3[2]f/%.3[2]f/%.3[2]f/0.000 ms\n", target, rtt, count)
		return exitsAt(now.Add(g.jitterLocked(g.lat.PingReply)+time.Duration(count-1)*time.Millisecond), 0, out), nil
	}
	out := fmt.Sprintf("PING %[1]s (%[1]s) 56(84) bytes of data.\n\n--- %[1]s ping statistics ---\n%[2]d packets transmitted, 0 received, 100%% packet loss, time 0ms\n\n", target, count)
	return exitsAt(now.Add(wait+g.lat.PingReply/2), 1, out), nil
}

// exitsAt is a process that runs until t, then exits with code, having
// printed stdout.
func exitsAt(t time.Time, code int, stdout string) agenttest.Process {
	done := guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: []byte(stdout)}
	return func() guestagent.ExecStatus {
		if time.Now().Before(t) {
			return guestagent.ExecStatus{}
		}
		return done
	}
}

// jitterLocked is jitter with g.mu held.
func (g *Guest) jitterLocked(d time.Duration) time.Duration {
	if g.lat.Jitter <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + g.lat.Jitter*(2*g.rng.Float64()-1)))
}

// guestInfo is qemu-ga 7.2.22's guest-info, as captured in
// testdata/qga/linux-basic.jsonl.
var guestInfo = func() json.RawMessage {
	const cmds = "guest-get-cpustats guest-get-diskstats guest-ssh-remove-authorized-keys guest-ssh-add-authorized-keys " +
		"guest-ssh-get-authorized-keys !guest-get-devices guest-get-osinfo guest-get-timezone guest-get-users " +
		"guest-get-host-name guest-exec guest-exec-status guest-get-memory-block-info guest-set-memory-blocks " +
		"guest-get-memory-blocks guest-set-user-password guest-get-fsinfo guest-get-disks guest-set-vcpus " +
		"guest-get-vcpus guest-network-get-interfaces guest-suspend-hybrid~ guest-suspend-ram~ guest-suspend-disk~ " +
		"guest-fstrim guest-fsfreeze-thaw guest-fsfreeze-freeze-list guest-fsfreeze-freeze guest-fsfreeze-status " +
		"guest-file-flush guest-file-seek guest-file-write guest-file-read guest-file-close guest-file-open " +
		"guest-shutdown~ guest-info guest-set-time guest-get-time guest-ping guest-sync guest-sync-delimited"
	var b strings.Builder
	b.WriteString(`{"version": "7.2.22", "supported_commands": [`)
	for i, c := range strings.Fields(cmds) {
		if i > 0 {
			b.WriteString(", ")
		}
		enabled, sr := !strings.HasPrefix(c, "!"), !strings.HasSuffix(c, "~")
		c = strings.Trim(c, "!~")
		fmt.Fprintf(&b, `{"enabled": %t, "name": %q, "success-response": %t}`, enabled, c, sr)
	}
	b.WriteString("]}")
	return json.RawMessage(b.String())
}()
