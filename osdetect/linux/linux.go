package linux

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// SourceGuestProcRoute is the DefaultRoutes source of Linux guests without
// guest-network-get-route: /proc/net/route and /proc/net/ipv6_route.
const SourceGuestProcRoute = "guest-proc-route"

func init() {
	osdetect.Register(osdetect.Linux, osdetect.Spec{
		Fallback:       true, // an id no family claims, or no cmd.exe: Linux
		Ping:           linuxPing,
		ParsePing:      parseLinuxPing,
		AgentRoutes:    true, // guest-network-get-route exists only in Linux agents
		Routes:         linuxRoutes,
		RouteSource:    SourceGuestProcRoute,
		FewCallsRoutes: fewCallsRoutes,

		Evidence:      linuxEvidence,
		ParseEvidence: parseLinuxEvidence,
	})
}

// linuxPing is iputils' and busybox's "ping -c 1 -W <seconds, rounded up,
// ≥ 1> [-6] ADDR".
func linuxPing(target netip.Addr, timeout time.Duration) guestagent.Command {
	secs := max(int64(math.Ceil(timeout.Seconds())), 1)
	cmd := guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", strconv.FormatInt(secs, 10)}}
	if target.Is6() {
		cmd.Args = append(cmd.Args, "-6")
	}
	cmd.Args = append(cmd.Args, target.String())
	return cmd
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

// parseLinuxPing reads iputils' and busybox's ping: exit code 0 means a
// reply came (RTT from "time=0.123 ms"), 1 no reply (or an ICMP error such
// as "From 192.0.2.13 icmp_seq=1 Destination Host Unreachable", or
// busybox's error on stderr), anything else an error described by the
// first line of stderr. A process killed by a signal is a failure.
func parseLinuxPing(_ netip.Addr, st guestagent.ExecStatus) osdetect.PingResult {
	if st.Signal != nil {
		return osdetect.Failed("ping was killed by signal %d", *st.Signal)
	}
	if st.ExitCode == nil {
		return osdetect.Failed("ping ended without an exit code")
	}
	switch code := *st.ExitCode; code {
	case 0:
		res := osdetect.PingResult{OK: true}
		if m := linuxRTT.FindSubmatch(st.Stdout); m != nil {
			if ms, err := strconv.ParseFloat(string(m[1]), 64); err == nil && ms < 1e7 {
				res.RTT = time.Duration(ms * float64(time.Millisecond))
			}
		}
		return res
	case 1:
		for _, line := range osdetect.Lines(st.Stdout) {
			if m := linuxICMPError.FindStringSubmatch(line); m != nil {
				from := m[1]
				if m[2] != "" {
					from = m[2]
				}
				return osdetect.Failed("%s (reported by %s)", strings.ToLower(strings.TrimSpace(m[3])), reporter(from))
			}
		}
		if l := osdetect.FirstLine(st.Stderr); l != "" {
			return osdetect.Failed("exit code 1: %s", l)
		}
		return osdetect.Failed("no reply")
	default:
		if l := osdetect.FirstLine(st.Stderr); l != "" {
			return osdetect.Failed("exit code %d: %s", code, l)
		}
		return osdetect.Failed("exit code %d", code)
	}
}

// reporter formats the address of whoever sent an ICMP error.
func reporter(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return guestagent.Sanitize(s, 64)
}

// Route flags from <linux/route.h>.
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

const (
	procRoute     = "/proc/net/route"
	procIPv6Route = "/proc/net/ipv6_route"
)

// linuxRoutes reads /proc/net/route and /proc/net/ipv6_route with
// guest-file-*, or with "cat" when those commands are disabled.
func linuxRoutes(ctx context.Context, c *guestagent.Client, info guestagent.Info) ([]osdetect.DefaultRoute, error) {
	if osdetect.Usable(info, "guest-file-open") && osdetect.Usable(info, "guest-file-read") {
		v4, err := c.ReadFile(ctx, procRoute, osdetect.RouteOutputLimit)
		if err == nil {
			// /proc/net/ipv6_route is missing when IPv6 is disabled.
			v6, err6 := c.ReadFile(ctx, procIPv6Route, osdetect.RouteOutputLimit)
			if err6 != nil && !osdetect.IsAgentError(err6) {
				return nil, fmt.Errorf("default routes: %w", err6)
			}
			return osdetect.WithCut(parseLinuxTables(v4, v6))(osdetect.TooLong(v4) || osdetect.TooLong(v6))
		}
		if !errors.Is(err, guestagent.ErrCommandDisabled) && !errors.Is(err, guestagent.ErrCommandNotFound) {
			return nil, fmt.Errorf("default routes: %w", err)
		}
	}
	return catLinuxRoutes(ctx, c)
}

// catLinuxRoutes reads the route tables with "cat".
func catLinuxRoutes(ctx context.Context, c *guestagent.Client) ([]osdetect.DefaultRoute, error) {
	st, err := c.Run(ctx, guestagent.Command{Path: "cat", Args: []string{procRoute}, CaptureOutput: true}, osdetect.RouteOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: cat %s: %w", procRoute, err)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 {
		return nil, fmt.Errorf("default routes: cat %s: %s: %s", procRoute, osdetect.ExitText(st), osdetect.FirstLine(st.Stderr))
	}
	v4, cut := st.Stdout, st.StdoutTruncated || osdetect.TooLong(st.Stdout)
	var v6 []byte
	st, err = c.Run(ctx, guestagent.Command{Path: "cat", Args: []string{procIPv6Route}, CaptureOutput: true}, osdetect.RouteOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: cat %s: %w", procIPv6Route, err)
	}
	if st.ExitCode != nil && *st.ExitCode == 0 {
		v6, cut = st.Stdout, cut || st.StdoutTruncated || osdetect.TooLong(st.Stdout)
	}
	return osdetect.WithCut(parseLinuxTables(v4, v6))(cut)
}

// errNoRouteTable is catLinuxTables' error when cat printed no
// /proc/net/route: another method may still read it.
var errNoRouteTable = errors.New("no route table")

// fewCallsRoutes reads both tables with one "cat" (catLinuxTables) when
// the agent has guest-exec and guest-exec-status enabled; ok is false when
// that cat cannot run or prints no table.
func fewCallsRoutes(ctx context.Context, c *guestagent.Client, info guestagent.Info) ([]osdetect.DefaultRoute, bool, error) {
	if !info.Enabled("guest-exec") || !info.Enabled("guest-exec-status") {
		return nil, false, nil
	}
	routes, err := catLinuxTables(ctx, c)
	if err == nil || !(osdetect.IsAgentError(err) || errors.Is(err, errNoRouteTable)) {
		return routes, true, err
	}
	return nil, false, nil
}

// catLinuxTables reads both route tables with one "cat": two agent calls.
// cat prints /proc/net/route, then /proc/net/ipv6_route (missing, with a
// non-zero exit, when IPv6 is disabled). Each table is held to the limits
// of one read, and a cut is reported as the other methods report it.
func catLinuxTables(ctx context.Context, c *guestagent.Client) ([]osdetect.DefaultRoute, error) {
	cmd := guestagent.Command{Path: "cat", Args: []string{procRoute, procIPv6Route}, CaptureOutput: true}
	st, err := c.Run(ctx, cmd, 2*osdetect.RouteOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: cat %s %s: %w", procRoute, procIPv6Route, err)
	}
	v4, v6 := splitLinuxTables(st.Stdout)
	if !bytes.HasPrefix(bytes.TrimSpace(v4), []byte("Iface")) {
		return nil, fmt.Errorf("default routes: cat %s: %w: %s: %s", procRoute, errNoRouteTable, osdetect.ExitText(st), osdetect.FirstLine(st.Stderr))
	}
	cut := st.StdoutTruncated || len(v4) > osdetect.RouteOutputLimit || len(v6) > osdetect.RouteOutputLimit
	v4, v6 = v4[:min(len(v4), osdetect.RouteOutputLimit)], v6[:min(len(v6), osdetect.RouteOutputLimit)]
	return osdetect.WithCut(parseLinuxTables(v4, v6))(cut || osdetect.TooLong(v4) || osdetect.TooLong(v6))
}

// splitLinuxTables splits cat's output of /proc/net/route and
// /proc/net/ipv6_route where the first IPv6 row starts: its first field is
// 32 hex digits, which no interface name (at most 15 bytes) is.
func splitLinuxTables(out []byte) (v4, v6 []byte) {
	for off := 0; off < len(out); {
		end := bytes.IndexByte(out[off:], '\n')
		if end < 0 {
			end = len(out) - off
		}
		line := out[off : off+end]
		if i := bytes.IndexAny(line, " \t"); i == 32 {
			if _, err := hex16(string(line[:32])); err == nil {
				return out[:off], out[off:]
			}
		}
		off += end + 1
	}
	return out, nil
}

func parseLinuxTables(v4, v6 []byte) ([]osdetect.DefaultRoute, error) {
	routes, err := ParseProcNetRoute(v4)
	if err != nil {
		return nil, fmt.Errorf("default routes: %s: %w", procRoute, err)
	}
	if len(bytes.TrimSpace(v6)) > 0 {
		r6, err := ParseProcNetIPv6Route(v6)
		if err != nil {
			return nil, fmt.Errorf("default routes: %s: %w", procIPv6Route, err)
		}
		routes = append(routes, r6...)
	}
	return routes, nil
}

// ParseProcNetRoute returns the default routes in the text of Linux's
// /proc/net/route: rows with destination and mask 0, a non-zero gateway,
// and flags that say up and not rejecting.
//
// Addresses there are the kernel's 32-bit values printed as hex in the
// guest's byte order; the order is taken from the masks of the table
// (little-endian unless a mask only reads as contiguous big-endian).
// Malformed rows are skipped; a missing header is an error.
func ParseProcNetRoute(data []byte) ([]osdetect.DefaultRoute, error) {
	ls := osdetect.SplitLines(data, osdetect.MaxRouteLines)
	if len(ls) == 0 || !strings.HasPrefix(strings.TrimSpace(ls[0]), "Iface") {
		return nil, errors.New("not /proc/net/route: no Iface header")
	}
	col := map[string]int{}
	for i, name := range strings.Fields(ls[0]) {
		col[name] = i
	}
	width := 0 // fields a row needs
	for _, name := range []string{"Iface", "Destination", "Gateway", "Flags", "Metric", "Mask"} {
		i, ok := col[name]
		if !ok {
			return nil, fmt.Errorf("not /proc/net/route: no %s column", name)
		}
		width = max(width, i+1)
	}
	type row struct {
		iface         string
		dst, gw, mask uint32
		flags         uint64
		metric        int
	}
	var rows []row
	for _, line := range ls[1:] {
		f := strings.Fields(line)
		if len(f) < width {
			continue
		}
		var r row
		var err1, err2, err3, err4, err5 error
		r.iface = f[col["Iface"]]
		r.dst, err1 = hex32(f[col["Destination"]])
		r.gw, err2 = hex32(f[col["Gateway"]])
		r.mask, err3 = hex32(f[col["Mask"]])
		r.flags, err4 = strconv.ParseUint(f[col["Flags"]], 16, 32)
		r.metric, err5 = strconv.Atoi(f[col["Metric"]])
		if errors.Join(err1, err2, err3, err4, err5) != nil || r.metric < 0 {
			continue
		}
		rows = append(rows, r)
	}
	bigEndian := false
	for _, r := range rows {
		if contiguous(r.mask) != contiguous(bits.ReverseBytes32(r.mask)) {
			bigEndian = contiguous(r.mask)
			break
		}
	}
	var routes []osdetect.DefaultRoute
	for _, r := range rows {
		if r.dst != 0 || r.mask != 0 || r.gw == 0 || r.flags&rtfUp == 0 || r.flags&rtfReject != 0 {
			continue
		}
		gw := r.gw
		if !bigEndian {
			gw = bits.ReverseBytes32(gw)
		}
		routes = append(routes, osdetect.DefaultRoute{
			Interface: guestagent.Sanitize(r.iface, osdetect.MaxIfaceRunes),
			Gateway:   netip.AddrFrom4([4]byte{byte(gw >> 24), byte(gw >> 16), byte(gw >> 8), byte(gw)}),
			Metric:    r.metric,
		})
	}
	return routes, nil
}

func hex32(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, errors.New("not 8 hex digits")
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err
}

// contiguous reports whether m, read most significant bit first, is a
// netmask: ones followed by zeros.
func contiguous(m uint32) bool {
	return bits.OnesCount32(m) == bits.LeadingZeros32(^m)
}

// ParseProcNetIPv6Route returns the default routes in the text of Linux's
// /proc/net/ipv6_route: rows with destination ::/0, no source prefix, a
// next hop other than ::, and flags that say up and not rejecting. A
// link-local gateway gets the interface name as its zone. Malformed rows
// are skipped; text with no valid row at all is an error.
func ParseProcNetIPv6Route(data []byte) ([]osdetect.DefaultRoute, error) {
	var routes []osdetect.DefaultRoute
	valid := 0
	ls := osdetect.SplitLines(data, osdetect.MaxRouteLines)
	for _, line := range ls {
		f := strings.Fields(line)
		if len(f) != 10 {
			continue
		}
		dst, err1 := hex16(f[0])
		dlen, err2 := strconv.ParseUint(f[1], 16, 8)
		slen, err3 := strconv.ParseUint(f[3], 16, 8)
		nh, err4 := hex16(f[4])
		metric, err5 := strconv.ParseUint(f[5], 16, 32)
		flags, err6 := strconv.ParseUint(f[8], 16, 32)
		_, err7 := hex16(f[2])
		if errors.Join(err1, err2, err3, err4, err5, err6, err7) != nil || dlen > 128 || slen > 128 {
			continue
		}
		valid++
		if dlen != 0 || !dst.IsUnspecified() || slen != 0 || nh.IsUnspecified() ||
			flags&rtfUp == 0 || flags&rtfReject != 0 {
			continue
		}
		iface := guestagent.Sanitize(f[9], osdetect.MaxIfaceRunes)
		if nh.IsLinkLocalUnicast() && iface != "" {
			nh = nh.WithZone(iface)
		}
		routes = append(routes, osdetect.DefaultRoute{Interface: iface, Gateway: nh, Metric: int(metric)})
	}
	if valid == 0 && len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("not /proc/net/ipv6_route: no valid row")
	}
	return routes, nil
}

func hex16(s string) (netip.Addr, error) {
	if len(s) != 32 {
		return netip.Addr{}, errors.New("not 32 hex digits")
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom16(b), nil
}
