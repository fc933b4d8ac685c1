package checker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// hostileAgent answers like a healthy Debian guest whose gateway and
// external target reply, except where attack says otherwise:
//
//   - "replies-at-cap": every reply is as large as vmcheck accepts for its
//     command (guestagent.ReplyLimit): guest-info and guest-get-osinfo
//     padded to 64 KiB, 256 interfaces of 64 addresses, a route table and
//     a ping output at the 3 MiB of guest-exec-status;
//   - "ping-never-exits": guest-exec-status of a ping says "running" for
//     ever, until the check's deadline;
//   - "ping-1MiB-output": the ping exits at once having printed 1 MiB.
//
// It counts the agent calls.
type hostileAgent struct {
	attack string
	calls  atomic.Int64
	pids   atomic.Int64
	isPing sync32
	// replies are built once per command (and ping or not): the
	// benchmark measures vmcheck, not the fake agent.
	replies sync.Map
}

// sync32 remembers which pids are pings (the others are route reads).
type sync32 struct{ m atomic.Value }

func (s *sync32) set(pid int64, ping bool) {
	old, _ := s.m.Load().(map[int64]bool)
	n := make(map[int64]bool, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[pid] = ping
	s.m.Store(n)
}

func (s *sync32) get(pid int64) bool {
	m, _ := s.m.Load().(map[int64]bool)
	return m[pid]
}

const hostileMAC = "52:54:00:aa:00:01"

func (h *hostileAgent) Command(ctx context.Context, req []byte) ([]byte, error) {
	h.calls.Add(1)
	var r struct {
		Execute   string          `json:"execute"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, err
	}
	key := r.Execute
	switch r.Execute {
	case "guest-exec":
		var a struct {
			Path string `json:"path"`
		}
		json.Unmarshal(r.Arguments, &a)
		pid := h.pids.Add(1)
		h.isPing.set(pid, a.Path == "ping")
		return fmt.Appendf(nil, `{"return":{"pid":%d}}`, pid), nil
	case "guest-exec-status":
		var a struct {
			PID int64 `json:"pid"`
		}
		json.Unmarshal(r.Arguments, &a)
		key = fmt.Sprintf("%s %t", r.Execute, h.isPing.get(a.PID))
	}
	if b, ok := h.replies.Load(key); ok {
		return b.([]byte), nil
	}
	b := h.reply(r.Execute, key)
	h.replies.Store(key, b)
	return b, nil
}

// reply builds the reply to command (key: command and, for
// guest-exec-status, whether the process is a ping).
func (h *hostileAgent) reply(command, key string) []byte {
	r := struct{ Execute string }{command}
	atCap := h.attack == "replies-at-cap"
	limit := guestagent.ReplyLimit(r.Execute) - 256
	switch r.Execute {
	case "guest-ping":
		return []byte(`{"return":{}}`)
	case "guest-info":
		return padded(`{"return":{"version":"7.2.22","supported_commands":[{"enabled":true,"name":"guest-exec","success-response":true},{"enabled":true,"name":"guest-exec-status","success-response":true}`, `,{"enabled":true,"name":"guest-x","success-response":true}`, `]}}`, atCap, limit)
	case "guest-get-osinfo":
		pad := ""
		if atCap {
			pad = strings.Repeat(`\u001b[31m\u202e`, (limit-200)/17)
		}
		return []byte(`{"return":{"id":"debian","version-id":"12","pretty-name":"` + pad + `"}}`)
	case "guest-network-get-interfaces":
		eth0 := `{"name":"eth0","hardware-address":"` + hostileMAC + `","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"192.0.2.10","prefix":24}]}`
		return padded(`{"return":[`+eth0, `,{"name":"x","hardware-address":"52:54:00:ff:ff:ff","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"198.51.100.7","prefix":24}]}`, `]}`, atCap, limit)
	case "guest-exec-status":
		return h.status(key == "guest-exec-status true", limit)
	}
	return []byte(`{"error":{"class":"CommandNotFound","desc":"no"}}`)
}

// status is guest-exec-status of a ping or of the route read.
func (h *hostileAgent) status(ping bool, limit int) []byte {
	const reply = "PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.\n64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.3 ms\n\n--- 192.0.2.1 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 0.3/0.3/0.3/0.0 ms\n"
	routes := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	out := routes
	switch {
	case ping && h.attack == "ping-never-exits":
		return []byte(`{"return":{"exited":false}}`)
	case ping && h.attack == "ping-1MiB-output":
		out = reply + strings.Repeat("64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.3 ms\n", 1<<20/56)
	case ping && h.attack == "replies-at-cap":
		out = reply + strings.Repeat("x", (limit-100)*3/4-len(reply))
	case ping:
		out = reply
	case h.attack == "replies-at-cap":
		out = routes + strings.Repeat("eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", ((limit-100)*3/4-len(routes))/48)
	}
	return []byte(`{"return":{"exited":true,"exitcode":0,"out-data":"` + base64.StdEncoding.EncodeToString([]byte(out)) + `"}}`)
}

// padded repeats elem between head and tail up to limit bytes when atCap.
func padded(head, elem, tail string, atCap bool, limit int) []byte {
	var b strings.Builder
	b.WriteString(head)
	for atCap && b.Len()+len(elem)+len(tail) < limit {
		b.WriteString(elem)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// BenchmarkHostileCheck checks one guest that attacks vmcheck (see
// hostileAgent), a check per op, under a 4 s deadline (ping timeout 2 s):
// cpu-ms/check is the CPU vmcheck spends on it (user and system, the
// whole process), calls/check its agent calls. A ping that never exits
// costs a status read at 10 ms doubling to 250 ms until the deadline; a
// reply's size is capped per command before it is decoded, and a
// command's output at 64 KiB while it is.
func BenchmarkHostileCheck(b *testing.B) {
	for _, attack := range []string{"none", "replies-at-cap", "ping-never-exits", "ping-1MiB-output"} {
		b.Run(attack, func(b *testing.B) {
			h := &hostileAgent{attack: attack}
			c := checker.New(settings.Config{
				External:    []netip.Addr{netip.MustParseAddr("203.0.113.10")},
				Timeout:     config.Duration(4 * time.Second),
				PingTimeout: config.Duration(2 * time.Second),
			})
			d := model.Domain{Name: "hostile", UUID: "6f1c2a84-0000-4000-8000-0000000000aa", State: model.Running,
				BootID: "hostile/1", Channel: model.ChannelConnected, Agent: h,
				NICs: []model.NIC{{MAC: hostileMAC, Device: "vnet0", Model: "virtio", SourceType: "bridge", Source: "br0", Bridge: "br0"}}}
			ctx := context.Background()
			cctx, cancel := c.Config().CheckContext(ctx)
			c.Check(cctx, d) // the cold check: guest-info and the OS are cached after it
			cancel()
			calls0, cpu0 := h.calls.Load(), cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				cctx, cancel := c.Config().CheckContext(ctx)
				r := c.Check(cctx, d)
				cancel()
				if want := hostileWant[attack]; r.State != want {
					b.Fatalf("%s: %s (%s), want %s", attack, r.State, r.Reason, want)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/check")
			b.ReportMetric(float64(h.calls.Load()-calls0)/float64(b.N), "calls/check")
		})
	}
}

// hostileWant is the verdict on each attack: the guest gets no say in it
// beyond what its replies show.
var hostileWant = map[string]model.State{
	"none": model.StateOK, "replies-at-cap": model.StateOK,
	"ping-never-exits": model.StateUnknown, "ping-1MiB-output": model.StateOK,
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
