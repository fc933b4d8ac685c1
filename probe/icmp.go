package probe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// The cause only icmp names (high_latency is shared: probe.go).
var _ = cause.Register(cause.PacketLoss, "echo requests are lost on the path, more than the policy's max_loss allows (a congested or faulty link, a rate limit)")

// The icmp method: `count` echo requests in one guest command to each
// gateway and external target of the VM (the engine plans the targets),
// loss and round-trip times read from the tool's summary, thresholds
// max_loss and max_rtt. The default policy is one echo request, no
// threshold: today's ping, command and reading unchanged.
//
//	Linux (iputils, busybox): ping -c N -A -i 0.2 -W SECS [-6] ADDR
//	Windows:                  ping.exe -n N -w MS [-6] ADDR (one second apart: no interval option)
func init() {
	register("icmp", Method{
		Validate: validateICMP,
		Families: []osdetect.Family{osdetect.Linux, osdetect.Windows},
		Command:  icmpCommand,
		Parse:    parseICMP,
	})
}

// Default is the probe every VM gets when its policy names no icmp probe:
// one echo request to each gateway and external target.
var Default = Spec{Method: "icmp", Count: 1, WarnAt: DefaultWarnAt}

func validateICMP(s *Spec) error {
	if s.Count == 0 {
		s.Count = 1
	}
	if s.Count < 1 || s.Count > MaxCount {
		return fmt.Errorf("count: %d is not between 1 and %d", s.Count, MaxCount)
	}
	if s.MaxLoss != nil && (*s.MaxLoss < 0 || *s.MaxLoss >= 1) {
		return fmt.Errorf("max_loss: %v is not at least 0 and below 1", *s.MaxLoss)
	}
	return nil
}

func icmpCommand(f osdetect.Family, target netip.Addr, timeout time.Duration, s Spec) (guestagent.Command, error) {
	cmd, err := osdetect.PingCommand(f, target, timeout)
	if err != nil || s.Count <= 1 {
		return cmd, err
	}
	n := strconv.Itoa(s.Count)
	switch f {
	case osdetect.Linux:
		// ping -c 1 -W S …: the count replaced; adaptive (-A: the next
		// request as soon as a reply came, so N requests take about N
		// round trips), at most 0.2 s apart (the floor iputils allows a
		// user that is not root) when a reply does not come.
		cmd.Args[1] = n
		cmd.Args = append([]string{cmd.Args[0], cmd.Args[1], "-A", "-i", "0.2"}, cmd.Args[2:]...)
	case osdetect.Windows:
		cmd.Args[1] = n // ping.exe -n 1 -w MS …
	default:
		return guestagent.Command{}, fmt.Errorf("no icmp command for OS family %q", f)
	}
	return cmd, nil
}

var (
	// linuxSummary is iputils' "5 packets transmitted, 4 received, 20%
	// packet loss" and busybox's "5 packets transmitted, 4 packets
	// received, 20% packet loss".
	linuxSummary = regexp.MustCompile(`(?m)^(\d{1,6}) packets transmitted, (\d{1,6}) (?:packets )?received`)
	// linuxRTT is iputils' "rtt min/avg/max/mdev = 0.04/0.06/0.08/0.01 ms"
	// and busybox's "round-trip min/avg/max = 0.035/0.051/0.083 ms".
	linuxRTTs = regexp.MustCompile(`(?m)^(?:rtt|round-trip) min/avg/max(?:/mdev)? = ([0-9.]{1,12})/([0-9.]{1,12})/([0-9.]{1,12})`)
	// windowsSummary is ping.exe's "Packets: Sent = 4, Received = 3, Lost
	// = 1 (25% loss)," (German: "Gesendet = 4, Empfangen = 3, Verloren =
	// 1").
	windowsSummary = regexp.MustCompile(`(?:Sent|Gesendet) = (\d{1,6}), (?:Received|Empfangen) = (\d{1,6})`)
	// windowsRTTs is "Minimum = 0ms, Maximum = 1ms, Average = 0ms"
	// (German: "Minimum = 0ms, Maximum = 1ms, Mittelwert = 0ms").
	windowsRTTs = regexp.MustCompile(`Minimum = (\d{1,9})ms, Maximum = (\d{1,9})ms, (?:Average|Mittelwert) = (\d{1,9})ms`)
	// windowsUnreachable counts replies that are ICMP errors, which
	// ping.exe counts as received.
	windowsUnreachable = regexp.MustCompile(`(?mi)^(?:Reply from|Antwort von) [^\r\n]{0,80}(?:unreachable|nicht erreichbar)`)
)

// parseICMP reads one icmp command. One echo request is read as today
// (osdetect.ParsePing); more from the tool's summary.
func parseICMP(f osdetect.Family, target netip.Addr, st guestagent.ExecStatus, s Spec) Result {
	res := Result{Method: "icmp", Target: target.String()}
	if s.Count <= 1 {
		pr := osdetect.ParsePing(f, target, st)
		res.Measure.Sent = 1
		res.Measure.RTT, res.Measure.RTTMin, res.Measure.RTTMax = pr.RTT, pr.RTT, pr.RTT
		loss := 1.0
		if pr.OK {
			res.Status, res.Measure.Received, loss = Passed, 1, 0
		} else {
			res.Status, res.Error = Failed, pr.Error
		}
		res.Measure.Loss = &loss
		return judge(res, s)
	}
	sent, recv, err := icmpSummary(f, st)
	if err != nil {
		// No summary: the tool did not run as asked; read it as one ping.
		pr := osdetect.ParsePing(f, target, st)
		res.Status, res.Error = Failed, pr.Error
		if pr.OK {
			res.Status, res.Error = Error, err.Error()
		}
		return res
	}
	loss := float64(sent-recv) / float64(sent)
	res.Measure.Sent, res.Measure.Received, res.Measure.Loss = sent, recv, &loss
	res.Measure.RTTMin, res.Measure.RTT, res.Measure.RTTMax = icmpRTTs(f, st.Stdout)
	if recv == 0 {
		pr := osdetect.ParsePing(f, target, st)
		res.Status, res.Error = Failed, pr.Error
		if pr.Error == "" {
			res.Error = "no reply"
		}
		return res
	}
	res.Status = Passed
	return judge(res, s)
}

// icmpSummary returns the requests sent and the replies received.
func icmpSummary(f osdetect.Family, st guestagent.ExecStatus) (sent, recv int, err error) {
	out := st.Stdout[:min(len(st.Stdout), OutputLimit)]
	re := linuxSummary
	if f == osdetect.Windows {
		re = windowsSummary
	}
	m := re.FindSubmatch(out)
	if m == nil {
		return 0, 0, errors.New("the ping printed no statistics line")
	}
	sent, _ = strconv.Atoi(string(m[1]))
	recv, _ = strconv.Atoi(string(m[2]))
	if f == osdetect.Windows {
		recv -= len(windowsUnreachable.FindAllIndex(out, MaxCount+1))
	}
	// busybox's -A may send one request more than -c asks.
	if sent < 1 || sent > 2*MaxCount || recv < 0 || recv > sent {
		return 0, 0, fmt.Errorf("the ping's statistics make no sense: %d sent, %d received", sent, recv)
	}
	return sent, recv, nil
}

// icmpRTTs returns min, avg and max round-trip times from the summary.
func icmpRTTs(f osdetect.Family, out []byte) (lo, avg, hi time.Duration) {
	out = out[:min(len(out), OutputLimit)]
	if f == osdetect.Windows {
		if m := windowsRTTs.FindSubmatch(out); m != nil {
			return ms(m[1]), ms(m[3]), ms(m[2])
		}
		return 0, 0, 0
	}
	if m := linuxRTTs.FindSubmatch(out); m != nil {
		return ms(m[1]), ms(m[2]), ms(m[3])
	}
	return 0, 0, 0
}

// ms reads milliseconds; nonsense (negative, above a day) is 0.
func ms(b []byte) time.Duration {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil || v < 0 || v > 86_400_000 || math.IsNaN(v) {
		return 0
	}
	return time.Duration(v * float64(time.Millisecond))
}

// judge applies a spec's thresholds to a result that passed: crossing
// max_loss or max_rtt makes it Degraded with the cause; reaching WarnAt
// of one leaves it passed with a warning in Detail.
func judge(res Result, s Spec) Result {
	if res.Status != Passed {
		return res
	}
	m := res.Measure
	if s.MaxLoss != nil && m.Loss != nil && m.Sent > 0 {
		lost := m.Sent - m.Received
		switch {
		case lost > int(math.Floor(*s.MaxLoss*float64(m.Sent)+1e-9)):
			res.Status, res.Cause = Degraded, cause.PacketLoss
			res.Error = fmt.Sprintf("%s loss (%d of %d echo requests unanswered), over max_loss %s", pct(*m.Loss), lost, m.Sent, pct(*s.MaxLoss))
			return res
		case *m.Loss > 0 && *m.Loss+1e-9 >= s.WarnAt**s.MaxLoss:
			res.Detail = fmt.Sprintf("warning: %s loss reaches %s of max_loss %s", pct(*m.Loss), pct(s.WarnAt), pct(*s.MaxLoss))
		}
	}
	if s.MaxRTT > 0 && m.RTT > 0 {
		switch {
		case m.RTT > s.MaxRTT:
			res.Status, res.Cause = Degraded, cause.HighLatency
			res.Error = fmt.Sprintf("%s %s over max_rtt %s", rttWord(res.Method), round(m.RTT), s.MaxRTT)
		case float64(m.RTT) >= s.WarnAt*float64(s.MaxRTT):
			res.Detail = fmt.Sprintf("warning: %s %s reaches %s of max_rtt %s", rttWord(res.Method), round(m.RTT), pct(s.WarnAt), s.MaxRTT)
		}
	}
	return res
}

func rttWord(method string) string {
	switch method {
	case "tcp":
		return "connect time"
	case "http":
		return "response time"
	}
	return "average round trip"
}

// pct writes a ratio as a percentage with at most one decimal.
func pct(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%" }

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
