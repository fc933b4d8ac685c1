package osdetect

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// maxPingTimeout caps the wait PingCommand asks ping for.
const maxPingTimeout = time.Hour

// maxReasonRunes caps PingResult.Error.
const maxReasonRunes = 200

// zoneName is what PingCommand accepts as the zone of a link-local target:
// a Linux interface name or a Windows interface index.
var zoneName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)

// PingCommand returns the guest command that sends one echo request to
// target and waits up to timeout for the reply:
//
//	Linux:   ping -c 1 -W <seconds, rounded up, ≥ 1> [-6] ADDR
//	Windows: ping.exe -n 1 -w <milliseconds, ≥ 1> [-6] ADDR
//
// ADDR is target formatted by net/netip, never a string from the guest. The
// target must be a valid unicast address: not unspecified, not multicast,
// not 255.255.255.255. A link-local IPv6 target needs a zone (the Linux
// interface name or the Windows interface index), and only such a target
// may have one. Timeouts above an hour are cut to an hour.
func PingCommand(f Family, target netip.Addr, timeout time.Duration) (guestagent.Command, error) {
	addr, err := checkTarget(target)
	if err != nil {
		return guestagent.Command{}, err
	}
	timeout = min(timeout, maxPingTimeout)
	var cmd guestagent.Command
	switch f {
	case Linux:
		secs := max(int64(math.Ceil(timeout.Seconds())), 1)
		cmd = guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", strconv.FormatInt(secs, 10)}}
	case Windows:
		ms := max(int64(math.Ceil(float64(timeout)/float64(time.Millisecond))), 1)
		cmd = guestagent.Command{Path: "ping.exe", Args: []string{"-n", "1", "-w", strconv.FormatInt(ms, 10)}}
	default:
		return guestagent.Command{}, fmt.Errorf("no ping command for OS family %q", f)
	}
	if addr.Is6() {
		cmd.Args = append(cmd.Args, "-6")
	}
	cmd.Args = append(cmd.Args, addr.String())
	cmd.CaptureOutput = true
	return cmd, nil
}

// checkTarget validates a ping target and unmaps IPv4-mapped IPv6.
func checkTarget(target netip.Addr) (netip.Addr, error) {
	if !target.IsValid() {
		return netip.Addr{}, errors.New("ping target is not a valid address")
	}
	a := target.Unmap()
	switch {
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("ping target %s is unspecified", a)
	case a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("ping target %s is multicast", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fmt.Errorf("ping target %s is the broadcast address", a)
	}
	zone := a.Zone()
	linkLocal6 := a.Is6() && a.IsLinkLocalUnicast()
	switch {
	case linkLocal6 && zone == "":
		return netip.Addr{}, fmt.Errorf("link-local ping target %s needs a zone (interface)", a)
	case zone != "" && !linkLocal6:
		return netip.Addr{}, fmt.Errorf("ping target %q: only link-local IPv6 targets take a zone", a.String())
	case zone != "" && !zoneName.MatchString(zone):
		return netip.Addr{}, fmt.Errorf("ping target zone %q is not an interface name or index", guestagent.Sanitize(zone, 32))
	}
	return a, nil
}

// PingResult is the outcome of one ping inside a guest.
type PingResult struct {
	OK    bool
	RTT   time.Duration // round-trip time when OK; 0 when ping said only "<1ms"
	Error string        // short sanitised reason when !OK, e.g. "no reply"
}

func failed(format string, args ...any) PingResult {
	reason := guestagent.Sanitize(fmt.Sprintf(format, args...), maxReasonRunes)
	if reason == "" {
		reason = "ping failed"
	}
	return PingResult{Error: reason}
}

// ParsePing interprets the ExecStatus of a PingCommand.
//
// Linux (iputils and busybox): exit code 0 means a reply came (RTT from
// "time=0.123 ms"), 1 no reply (or an ICMP error such as "From 192.0.2.13
// icmp_seq=1 Destination Host Unreachable", or busybox's error on stderr),
// anything else an error described by the first line of stderr.
//
// Windows: ping.exe exits 0 whenever anything answered, including a router
// reporting "Destination host unreachable", so the exit code is not
// trusted: only a line that names the target and carries a time
// ("time=12ms", "time<1ms", "Zeit<1ms") counts, and for IPv4 also "TTL=".
// The output may be CRLF, in an OEM code page and localised.
//
// A process killed by a signal (on Windows: an NTSTATUS such as
// 0xC000013A) is a failure.
func ParsePing(f Family, target netip.Addr, st guestagent.ExecStatus) PingResult {
	if !st.Exited {
		return failed("ping has not finished")
	}
	switch f {
	case Linux:
		return parseLinuxPing(st)
	case Windows:
		return parseWindowsPing(target, st)
	}
	return failed("cannot read ping output of OS family %q", string(f))
}

var (
	// linuxRTT matches the reply line of iputils ("64 bytes from
	// 192.0.2.13: icmp_seq=1 ttl=64 time=0.050 ms") and busybox ("… seq=0
	// ttl=64 time=0.035 ms").
	linuxRTT = regexp.MustCompile(`bytes from .*\btime[=<]\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*ms`)

	// linuxICMPError matches iputils' report of an ICMP error: "From
	// 192.0.2.13 icmp_seq=1 Destination Host Unreachable", or with a
	// resolved name "From gw.example (192.0.2.1) icmp_seq=1 …".
	linuxICMPError = regexp.MustCompile(`^From (\S+)(?: \(([^)]*)\))?:? icmp_seq=\d+ (.+)$`)
)

func parseLinuxPing(st guestagent.ExecStatus) PingResult {
	if st.Signal != nil {
		return failed("ping was killed by signal %d", *st.Signal)
	}
	if st.ExitCode == nil {
		return failed("ping ended without an exit code")
	}
	switch code := *st.ExitCode; code {
	case 0:
		res := PingResult{OK: true}
		if m := linuxRTT.FindSubmatch(st.Stdout); m != nil {
			if ms, err := strconv.ParseFloat(string(m[1]), 64); err == nil && ms < 1e7 {
				res.RTT = time.Duration(ms * float64(time.Millisecond))
			}
		}
		return res
	case 1:
		for _, line := range lines(st.Stdout) {
			if m := linuxICMPError.FindStringSubmatch(line); m != nil {
				from := m[1]
				if m[2] != "" {
					from = m[2]
				}
				return failed("%s (reported by %s)", strings.ToLower(strings.TrimSpace(m[3])), reporter(from))
			}
		}
		if l := firstLine(st.Stderr); l != "" {
			return failed("exit code 1: %s", l)
		}
		return failed("no reply")
	default:
		if l := firstLine(st.Stderr); l != "" {
			return failed("exit code %d: %s", code, l)
		}
		return failed("exit code %d", code)
	}
}

var (
	// winTime matches the round-trip time of a reply line: "time=12ms",
	// "time<1ms", "Zeit<1ms", or a number followed directly by a unit in
	// an OEM code page ("время<1мс").
	winTime = regexp.MustCompile(`(?i)[=<]\s*([0-9]{1,9})(?:\s*ms\b|[^\x00-\x7f\s]{1,8})`)
	winTTL  = regexp.MustCompile(`(?i)\bTTL=\d+`)
)

func parseWindowsPing(target netip.Addr, st guestagent.ExecStatus) PingResult {
	if st.Signal != nil {
		return failed("ping.exe ended with status 0x%08X", uint32(*st.Signal))
	}
	if st.ExitCode == nil {
		return failed("ping.exe ended without an exit code")
	}
	tgt := target.Unmap().WithZone("")
	ls := lines(st.Stdout)
	for _, line := range ls {
		at := addrIndex(line, tgt.String())
		if at < 0 {
			continue
		}
		rest := line[at:]
		m := winTime.FindStringSubmatch(rest)
		if m == nil || (tgt.Is4() && !winTTL.MatchString(rest)) {
			continue
		}
		res := PingResult{OK: true}
		if ms, err := strconv.Atoi(m[1]); err == nil && !strings.Contains(m[0], "<") {
			res.RTT = time.Duration(ms) * time.Millisecond
		}
		return res
	}
	reason := windowsFailure(ls, tgt.String())
	if code := *st.ExitCode; code != 0 && code != 1 {
		return failed("exit code %d: %s", code, reason)
	}
	return failed("%s", reason)
}

// windowsFailure explains a ping.exe run without a reply from the target.
func windowsFailure(ls []string, target string) string {
	// "Reply from 192.0.2.13: Destination host unreachable."
	for _, line := range ls {
		fields := strings.Fields(line)
		for i, tok := range fields {
			if !strings.HasSuffix(tok, ":") || i == len(fields)-1 {
				continue
			}
			a, err := netip.ParseAddr(strings.TrimSuffix(tok, ":"))
			if err != nil {
				continue
			}
			msg := strings.Join(fields[i+1:], " ")
			if winTTL.MatchString(msg) || winTime.MatchString(msg) {
				return fmt.Sprintf("reply came from %s, not from the target", a)
			}
			return fmt.Sprintf("%s (reported by %s)", plainMessage(msg), a)
		}
	}
	// The line after the "Pinging X with 32 bytes of data:" header.
	start := 0
	for i, line := range ls {
		if addrIndex(line, target) >= 0 {
			start = i + 1
			break
		}
	}
	for _, line := range ls[start:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		msg := plainMessage(line)
		if msg == "" {
			continue
		}
		if strings.Contains(msg, "timed out") || strings.Contains(msg, "berschreitung der anforderung") {
			return "no reply"
		}
		return msg
	}
	return "no reply line in the output of ping.exe"
}

// plainMessage lower-cases a message and drops its final full stop.
func plainMessage(s string) string {
	s = strings.ToLower(guestagent.Sanitize(s, maxReasonRunes))
	return strings.TrimSuffix(s, ".")
}

// addrIndex returns where addr occurs in line as a whole token (it may be
// followed by a "%zone"), or -1.
func addrIndex(line, addr string) int {
	for off := 0; ; {
		i := strings.Index(line[off:], addr)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(addr)
		// A colon may end the address ("Reply from 192.0.2.1: …") if no
		// more address follows it.
		endOK := end == len(line) || !addrChar(line[end]) ||
			line[end] == ':' && (end+1 == len(line) || !addrChar(line[end+1]))
		if (i == 0 || !addrChar(line[i-1])) && endOK {
			return i
		}
		off = i + 1
	}
}

func addrChar(c byte) bool {
	return c == '.' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// reporter formats the address of whoever sent an ICMP error.
func reporter(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return guestagent.Sanitize(s, 64)
}

// maxLines is how many lines of a command's output the ping parsers look
// at.
const maxLines = 1000

// lines splits output into lines, accepting LF, CRLF and CR, and keeps at
// most maxLines of them.
func lines(b []byte) []string { return splitLines(b, maxLines) }

// splitLines splits output into at most max lines, accepting LF, CRLF and
// CR. SplitN: a flood of newlines costs max strings, not one per byte.
func splitLines(b []byte, max int) []string {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	ls := strings.SplitN(string(b), "\n", max+1)
	return ls[:min(len(ls), max)]
}

// firstLine returns the first non-empty line of b, sanitised.
func firstLine(b []byte) string {
	for _, l := range lines(b) {
		if s := guestagent.Sanitize(l, maxReasonRunes); s != "" {
			return s
		}
	}
	return ""
}
