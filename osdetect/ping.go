package osdetect

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// maxPingTimeout caps the wait PingCommand asks ping for.
const maxPingTimeout = time.Hour

// MaxReasonRunes caps PingResult.Error.
const MaxReasonRunes = 200

// PingCommand returns the guest command that sends one echo request to
// target and waits up to timeout for the reply, for a guest of family f:
//
//	Linux:   ping -c 1 -W <seconds, rounded up, ≥ 1> [-6] ADDR
//	Windows: ping.exe -n 1 -w <milliseconds, ≥ 1> [-6] ADDR
//
// ADDR is target formatted by net/netip, never a string from the guest;
// an IPv4-mapped IPv6 target is pinged as the IPv4 address it maps. The
// target must pass ValidatePingTarget, and a link-local IPv6 target needs a
// zone (the Linux interface name or the Windows interface index).
// Timeouts above an hour are cut to an hour. The command captures its
// output, which ParsePing reads.
func PingCommand(f Family, target netip.Addr, timeout time.Duration) (guestagent.Command, error) {
	addr := target.Unmap()
	if err := ValidatePingTarget(addr); err != nil {
		return guestagent.Command{}, fmt.Errorf("ping target: %w", err)
	}
	if addr.Is6() && addr.IsLinkLocalUnicast() && addr.Zone() == "" {
		return guestagent.Command{}, fmt.Errorf("link-local ping target %s needs a zone (interface)", addr)
	}
	fam, ok := families[f]
	if !ok {
		return guestagent.Command{}, fmt.Errorf("no ping command for OS family %q", f)
	}
	cmd := fam.Ping(addr, min(timeout, maxPingTimeout))
	cmd.CaptureOutput = true
	return cmd, nil
}

// PingResult is the outcome of one ping inside a guest.
type PingResult struct {
	OK    bool
	RTT   time.Duration // round-trip time when OK; 0 when ping said only "<1ms"
	Error string        // short sanitised reason when !OK, e.g. "no reply"
}

// Failed returns a failed PingResult with a sanitised reason, formatted
// as fmt.Sprintf does.
func Failed(format string, args ...any) PingResult {
	reason := guestagent.Sanitize(fmt.Sprintf(format, args...), MaxReasonRunes)
	if reason == "" {
		reason = "ping failed"
	}
	return PingResult{Error: reason}
}

// ParsePing interprets the ExecStatus of a PingCommand for a guest of
// family f; each family's package documents how its ping reports (Linux:
// the exit code, Windows: a reply line naming the target). A process that
// has not exited, or was killed by a signal (on Windows: an NTSTATUS such
// as 0xC000013A), is a failure.
func ParsePing(f Family, target netip.Addr, st guestagent.ExecStatus) PingResult {
	if !st.Exited {
		return Failed("ping has not finished")
	}
	fam, ok := families[f]
	if !ok {
		return Failed("cannot read ping output of OS family %q", string(f))
	}
	return fam.ParsePing(target, st)
}

// maxLines is how many lines of a command's output the ping parsers look
// at.
const maxLines = 1000

// Lines splits a ping's output into lines, accepting LF, CRLF and CR, and
// keeps at most the 1000 lines the ping parsers look at.
func Lines(b []byte) []string { return SplitLines(b, maxLines) }

// SplitLines splits output into at most max lines, accepting LF, CRLF and
// CR. SplitN: a flood of newlines costs max strings, not one per byte.
func SplitLines(b []byte, max int) []string {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	ls := strings.SplitN(string(b), "\n", max+1)
	return ls[:min(len(ls), max)]
}

// FirstLine returns the first non-empty line of b (of the first 1000),
// sanitised: the message of a failed command.
func FirstLine(b []byte) string {
	for _, l := range Lines(b) {
		if s := guestagent.Sanitize(l, MaxReasonRunes); s != "" {
			return s
		}
	}
	return ""
}
