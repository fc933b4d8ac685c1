package windows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// SourceGuestRoutePrint is the DefaultRoutes source of Windows guests:
// route.exe print.
const SourceGuestRoutePrint = "guest-route-print"

func init() {
	osdetect.Register(osdetect.Windows, osdetect.Spec{
		OSInfoIDs:     []string{"mswindows"},
		OSInfoVersion: windowsOSInfoVersion,
		Probe:         &osdetect.Probe{Command: windowsProbe, Title: "Windows", Identify: windowsVer},
		Ping:          windowsPing,
		ParsePing:     parseWindowsPing,
		Routes:        windowsRoutes,
		RouteSource:   SourceGuestRoutePrint,
		Evidence:      windowsEvidence,
		ParseEvidence: parseWindowsEvidence,
	})
}

// windowsOSInfoVersion is the version of a Windows guest whose agent
// answers "N/A" for builds it has no name for: kernel-version and
// kernel-release, e.g. "10.0.20344".
func windowsOSInfoVersion(oi guestagent.OSInfo) string {
	if oi.KernelVersion == "" || oi.KernelRelease == "" {
		return ""
	}
	return oi.KernelVersion + "." + oi.KernelRelease
}

// windowsProbe is the command Detect runs when guest-get-osinfo gives no
// id: it prints "Microsoft Windows [Version …]" on Windows, and a Linux
// agent cannot spawn it.
var windowsProbe = guestagent.Command{Path: "cmd.exe", Args: []string{"/c", "ver"}, CaptureOutput: true}

// verVersion finds the version in cmd.exe's ver output, "Microsoft Windows
// [Version 10.0.19045.5011]" (the word "Version" is localised).
var verVersion = regexp.MustCompile(`Microsoft Windows \[[^\]\d]{0,32}(\d+(?:\.\d+){1,3})\]`)

// windowsVer returns what the output of a windowsProbe that exited 0 says
// about a Windows guest, or false when it does not name Windows.
func windowsVer(out []byte) (osdetect.Info, bool) {
	if !strings.Contains(string(out), "Microsoft Windows") {
		return osdetect.Info{}, false
	}
	info := osdetect.Info{Family: osdetect.Windows, ID: "mswindows", Name: "Microsoft Windows", Source: osdetect.SourceProbe}
	if m := verVersion.FindSubmatch(out); m != nil {
		info.Version = string(m[1])
	}
	return info, true
}

// windowsPing is "ping.exe -n 1 -w <milliseconds, rounded up, ≥ 1> [-6]
// ADDR".
func windowsPing(target netip.Addr, timeout time.Duration) guestagent.Command {
	ms := max(int64(math.Ceil(float64(timeout)/float64(time.Millisecond))), 1)
	cmd := guestagent.Command{Path: "ping.exe", Args: []string{"-n", "1", "-w", strconv.FormatInt(ms, 10)}}
	if target.Is6() {
		cmd.Args = append(cmd.Args, "-6")
	}
	cmd.Args = append(cmd.Args, target.String())
	return cmd
}

var (
	// winTime matches the round-trip time of a reply line: "time=12ms",
	// "time<1ms", "Zeit<1ms", or a number followed directly by a unit in
	// an OEM code page ("время<1мс").
	winTime = regexp.MustCompile(`(?i)[=<]\s*([0-9]{1,9})(?:\s*ms\b|[^\x00-\x7f\s]{1,8})`)
	winTTL  = regexp.MustCompile(`(?i)\bTTL=\d+`)
)

// parseWindowsPing reads ping.exe. It exits 0 whenever anything answered,
// including a router reporting "Destination host unreachable", so the exit
// code is not trusted: only a line that names the target and carries a
// time ("time=12ms", "time<1ms", "Zeit<1ms") counts, and for IPv4 also
// "TTL=". The output may be CRLF, in an OEM code page and localised. A
// process ended by an NTSTATUS (reported as a signal) is a failure.
func parseWindowsPing(target netip.Addr, st guestagent.ExecStatus) osdetect.PingResult {
	if st.Signal != nil {
		return osdetect.Failed("ping.exe ended with status 0x%08X", uint32(*st.Signal))
	}
	if st.ExitCode == nil {
		return osdetect.Failed("ping.exe ended without an exit code")
	}
	tgt := target.Unmap().WithZone("")
	ls := osdetect.Lines(st.Stdout)
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
		res := osdetect.PingResult{OK: true}
		if ms, err := strconv.Atoi(m[1]); err == nil && !strings.Contains(m[0], "<") {
			res.RTT = time.Duration(ms) * time.Millisecond
		}
		return res
	}
	reason := windowsFailure(ls, tgt.String())
	if code := *st.ExitCode; code != 0 && code != 1 {
		return osdetect.Failed("exit code %d: %s", code, reason)
	}
	return osdetect.Failed("%s", reason)
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
	s = strings.ToLower(guestagent.Sanitize(s, osdetect.MaxReasonRunes))
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

// windowsRoutes runs "route.exe print".
func windowsRoutes(ctx context.Context, c *guestagent.Client, _ guestagent.Info) ([]osdetect.DefaultRoute, error) {
	st, err := c.Run(ctx, guestagent.Command{Path: "route.exe", Args: []string{"print"}, CaptureOutput: true}, osdetect.RouteOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: route.exe print: %w", err)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 {
		return nil, fmt.Errorf("default routes: route.exe print: %s", osdetect.ExitText(st))
	}
	routes, err := ParseWindowsRoutePrint(st.Stdout)
	if err != nil {
		return nil, fmt.Errorf("default routes: route.exe print: %w", err)
	}
	return osdetect.WithCut(routes, nil)(st.StdoutTruncated || osdetect.TooLong(st.Stdout))
}

// winIfaceRow matches a row of route print's Interface List:
//
//	6...52 54 00 0c 00 13 ......Red Hat VirtIO Ethernet Adapter
//	1...........................Software Loopback Interface 1
var winIfaceRow = regexp.MustCompile(`^\s*(\d{1,10})\s*\.{3}((?:[0-9A-Fa-f]{2}[ -]){5,}[0-9A-Fa-f]{2})?`)

// ParseWindowsRoutePrint returns the default routes in the output of
// Windows' "route print" (the same as "netstat -r"): IPv4 Active Routes
// rows "0.0.0.0  0.0.0.0  <gateway>  <interface address>  <metric>" whose
// gateway is an address (not "On-link"), and IPv6 Active Routes rows
// "<if> <metric> ::/0 <gateway>", whose interface index is looked up in the
// Interface List for the MAC. Persistent Routes are configuration, not
// routes in use, and are skipped.
//
// The parser relies on structure, not words, because the headings are
// localised ("Aktive Routen:", "Ständige Routen:", "Auf Verbindung") and the
// text is in an OEM code page: route tables start at a line containing
// "IPv4" or "IPv6", and in each table the first line ending in ":" starts
// the active routes and the next one the persistent routes. Long IPv6
// destinations push the gateway onto the next line; that is handled.
func ParseWindowsRoutePrint(data []byte) ([]osdetect.DefaultRoute, error) {
	macs := map[string]string{} // interface index → MAC
	table := 0                  // 0: before the tables, 4 or 6
	headings := 0               // lines ending in ":" seen in this table
	var wrapped []string        // IPv6 row waiting for its gateway line
	var routes []osdetect.DefaultRoute
	ls := osdetect.SplitLines(data, osdetect.MaxRouteLines)
	for _, line := range ls {
		t := strings.TrimSpace(line)
		if t == "" || strings.Trim(t, "=_-") == "" {
			wrapped = nil
			continue
		}
		f := strings.Fields(t)
		if table == 0 {
			if m := winIfaceRow.FindStringSubmatch(line); m != nil {
				if hw := windowsMAC(m[2]); hw != "" {
					macs[m[1]] = hw
				}
				continue
			}
		}
		switch {
		case wrapped != nil && len(f) == 1:
			if r, ok := windowsV6Default(append(wrapped, f[0]), macs); ok && headings == 1 {
				routes = append(routes, r)
			}
			wrapped = nil
			continue
		case strings.HasSuffix(t, ":") && !windowsRouteRow(f):
			headings++
			wrapped = nil
			continue
		case strings.Contains(t, "IPv4") && !windowsRouteRow(f):
			table, headings, wrapped = 4, 0, nil
			continue
		case strings.Contains(t, "IPv6") && !windowsRouteRow(f):
			table, headings, wrapped = 6, 0, nil
			continue
		}
		wrapped = nil
		if headings != 1 {
			continue
		}
		switch table {
		case 4:
			if r, ok := windowsV4Default(f); ok {
				routes = append(routes, r)
			}
		case 6:
			if len(f) == 3 && isUint(f[0]) && isUint(f[1]) {
				wrapped = f
				continue
			}
			if r, ok := windowsV6Default(f, macs); ok {
				routes = append(routes, r)
			}
		}
	}
	if table == 0 {
		return nil, errors.New("no IPv4 or IPv6 route table in the output")
	}
	return routes, nil
}

// windowsRouteRow reports whether fields look like a route row (they start
// with an address or an interface index), not a heading.
func windowsRouteRow(f []string) bool {
	if len(f) == 0 {
		return false
	}
	if _, err := netip.ParseAddr(f[0]); err == nil {
		return true
	}
	return isUint(f[0]) && len(f) >= 3
}

func windowsV4Default(f []string) (osdetect.DefaultRoute, bool) {
	if len(f) != 5 || f[0] != "0.0.0.0" || f[1] != "0.0.0.0" {
		return osdetect.DefaultRoute{}, false
	}
	gw, err := netip.ParseAddr(f[2])
	if err != nil || !gw.Is4() || gw.IsUnspecified() {
		return osdetect.DefaultRoute{}, false // "On-link", "Auf Verbindung"
	}
	ifAddr, err := netip.ParseAddr(f[3])
	if err != nil || !ifAddr.Is4() {
		return osdetect.DefaultRoute{}, false
	}
	metric, err := strconv.Atoi(f[4])
	if err != nil || metric < 0 {
		return osdetect.DefaultRoute{}, false
	}
	return osdetect.DefaultRoute{InterfaceAddr: ifAddr, Gateway: gw, Metric: metric}, true
}

func windowsV6Default(f []string, macs map[string]string) (osdetect.DefaultRoute, bool) {
	if len(f) != 4 || !isUint(f[0]) || !isUint(f[1]) {
		return osdetect.DefaultRoute{}, false
	}
	dst, err := netip.ParsePrefix(f[2])
	if err != nil || !dst.Addr().Is6() || dst.Bits() != 0 {
		return osdetect.DefaultRoute{}, false
	}
	gw, err := netip.ParseAddr(f[3])
	if err != nil || !gw.Is6() || gw.IsUnspecified() || gw.Zone() != "" {
		return osdetect.DefaultRoute{}, false // "On-link"
	}
	metric, err := strconv.Atoi(f[1])
	if err != nil {
		return osdetect.DefaultRoute{}, false
	}
	if gw.IsLinkLocalUnicast() {
		gw = gw.WithZone(f[0])
	}
	return osdetect.DefaultRoute{MAC: macs[f[0]], Gateway: gw, Metric: metric}, true
}

// windowsMAC turns "52 54 00 0c 00 13" into "52:54:00:0c:00:13"; other
// lengths (the 8-byte ISATAP and Teredo ids) give "".
func windowsMAC(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' })
	mac, _ := guestagent.NormalMAC(strings.Join(parts, ":"))
	return mac
}

func isUint(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
