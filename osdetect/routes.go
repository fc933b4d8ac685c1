package osdetect

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Sources of DefaultRoutes.
const (
	SourceGuestRoute      = "guest-route"       // guest-network-get-route
	SourceGuestProcRoute  = "guest-proc-route"  // /proc/net/route and /proc/net/ipv6_route
	SourceGuestRoutePrint = "guest-route-print" // route.exe print
)

// Limits on what DefaultRoutes reads from a guest.
const (
	routeOutputLimit = 1 << 20 // bytes of a route table
	maxRouteLines    = 16384   // lines a parser looks at (1 MiB is about 8000 routes)
	maxIfaceRunes    = 64
)

// Route flags from <linux/route.h>.
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// DefaultRoute is a default route of a guest and what identifies its
// network interface: on Linux the interface name; on Windows the
// interface's IPv4 address (IPv4 routes) or its MAC (IPv6 routes, through
// route print's Interface List).
type DefaultRoute struct {
	Interface     string     // Linux interface name, sanitised
	InterfaceAddr netip.Addr // Windows IPv4: address of the interface
	MAC           string     // Windows IPv6: lower-case MAC of the interface, when known
	Gateway       netip.Addr // next hop; a link-local IPv6 gateway carries its zone (Linux: interface name, Windows: interface index)
	Metric        int        // route metric as the guest reports it
}

// DefaultRoutes finds the guest's default routes.
//
// If the agent has guest-network-get-route enabled (QEMU ≥ 9.1, Linux) it
// is used (source "guest-route"); when it fails with an agent error the
// per-OS method below is used instead. Otherwise Linux guests have
// /proc/net/route and /proc/net/ipv6_route read with guest-file-*, or with
// "cat" when those commands are disabled (source "guest-proc-route"), and
// Windows guests run "route.exe print" (source "guest-route-print").
// info is the agent's guest-info; an empty Info means "unknown" and every
// command is tried.
//
// The routes come IPv4 first, then IPv6, each by ascending metric. When the
// agent listed more routes than are kept, the default routes among the kept
// ones come with an error wrapping guestagent.ErrTruncated.
func DefaultRoutes(ctx context.Context, c *guestagent.Client, f Family, info guestagent.Info) (routes []DefaultRoute, source string, err error) {
	// guest-network-get-route exists only in Linux agents.
	if info.Enabled("guest-network-get-route") || len(info.Commands) == 0 && f == Linux {
		rs, err := c.NetworkRoutes(ctx)
		if err == nil || errors.Is(err, guestagent.ErrTruncated) {
			for _, r := range rs {
				if r.Destination.Bits() == 0 && r.Gateway.IsValid() && !r.Gateway.IsUnspecified() {
					routes = append(routes, DefaultRoute{Interface: r.Interface, Gateway: r.Gateway, Metric: r.Metric})
				}
			}
			return sortRoutes(routes), SourceGuestRoute, err
		}
		if !isAgentError(err) {
			return nil, "", fmt.Errorf("default routes: %w", err)
		}
		// The agent refused (unknown, disabled or failed): fall back.
	}
	switch f {
	case Linux:
		routes, err = linuxRoutes(ctx, c, info)
		return sortRoutes(routes), SourceGuestProcRoute, err
	case Windows:
		routes, err = windowsRoutes(ctx, c)
		return sortRoutes(routes), SourceGuestRoutePrint, err
	}
	return nil, "", fmt.Errorf("default routes: no method for OS family %q", f)
}

// usable reports whether a command may be tried: it is enabled, or guest-info
// is unknown.
func usable(info guestagent.Info, name string) bool {
	return len(info.Commands) == 0 || info.Enabled(name)
}

func sortRoutes(rs []DefaultRoute) []DefaultRoute {
	slices.SortStableFunc(rs, func(a, b DefaultRoute) int {
		if a.Gateway.Is4() != b.Gateway.Is4() {
			if a.Gateway.Is4() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	return rs
}

const (
	procRoute     = "/proc/net/route"
	procIPv6Route = "/proc/net/ipv6_route"
)

func linuxRoutes(ctx context.Context, c *guestagent.Client, info guestagent.Info) ([]DefaultRoute, error) {
	if usable(info, "guest-file-open") && usable(info, "guest-file-read") {
		v4, err := c.ReadFile(ctx, procRoute, routeOutputLimit)
		if err == nil {
			// /proc/net/ipv6_route is missing when IPv6 is disabled.
			v6, err6 := c.ReadFile(ctx, procIPv6Route, routeOutputLimit)
			if err6 != nil && !isAgentError(err6) {
				return nil, fmt.Errorf("default routes: %w", err6)
			}
			return withCut(parseLinuxTables(v4, v6))(tooLong(v4) || tooLong(v6))
		}
		if !errors.Is(err, guestagent.ErrCommandDisabled) && !errors.Is(err, guestagent.ErrCommandNotFound) {
			return nil, fmt.Errorf("default routes: %w", err)
		}
	}
	st, err := c.Run(ctx, guestagent.Command{Path: "cat", Args: []string{procRoute}, CaptureOutput: true}, routeOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: cat %s: %w", procRoute, err)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 {
		return nil, fmt.Errorf("default routes: cat %s: %s: %s", procRoute, exitText(st), firstLine(st.Stderr))
	}
	v4, cut := st.Stdout, st.StdoutTruncated || tooLong(st.Stdout)
	var v6 []byte
	st, err = c.Run(ctx, guestagent.Command{Path: "cat", Args: []string{procIPv6Route}, CaptureOutput: true}, routeOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: cat %s: %w", procIPv6Route, err)
	}
	if st.ExitCode != nil && *st.ExitCode == 0 {
		v6, cut = st.Stdout, cut || st.StdoutTruncated || tooLong(st.Stdout)
	}
	return withCut(parseLinuxTables(v4, v6))(cut)
}

// tooLong reports whether a route table may have been cut: it filled the
// bytes read, or has more lines than a parser looks at.
func tooLong(table []byte) bool {
	return len(table) >= routeOutputLimit || bytes.Count(table, []byte{'\n'}) >= maxRouteLines
}

// withCut adds, when cut is true, a note wrapping guestagent.ErrTruncated
// to a successful parse of a route table that was read only in part: the
// routes found are used, and the cut is reported.
func withCut(routes []DefaultRoute, err error) func(cut bool) ([]DefaultRoute, error) {
	return func(cut bool) ([]DefaultRoute, error) {
		if err != nil || !cut {
			return routes, err
		}
		return routes, fmt.Errorf("default routes: %w: the route table is longer than the %d bytes or %d lines read", guestagent.ErrTruncated, routeOutputLimit, maxRouteLines)
	}
}

func parseLinuxTables(v4, v6 []byte) ([]DefaultRoute, error) {
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

func windowsRoutes(ctx context.Context, c *guestagent.Client) ([]DefaultRoute, error) {
	st, err := c.Run(ctx, guestagent.Command{Path: "route.exe", Args: []string{"print"}, CaptureOutput: true}, routeOutputLimit)
	if err != nil {
		return nil, fmt.Errorf("default routes: route.exe print: %w", err)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 {
		return nil, fmt.Errorf("default routes: route.exe print: %s", exitText(st))
	}
	routes, err := ParseWindowsRoutePrint(st.Stdout)
	if err != nil {
		return nil, fmt.Errorf("default routes: route.exe print: %w", err)
	}
	return withCut(routes, nil)(st.StdoutTruncated || tooLong(st.Stdout))
}

// ParseProcNetRoute returns the default routes in the text of Linux's
// /proc/net/route: rows with destination and mask 0, a non-zero gateway,
// and flags that say up and not rejecting.
//
// Addresses there are the kernel's 32-bit values printed as hex in the
// guest's byte order; the order is taken from the masks of the table
// (little-endian unless a mask only reads as contiguous big-endian).
// Malformed rows are skipped; a missing header is an error.
func ParseProcNetRoute(data []byte) ([]DefaultRoute, error) {
	ls := splitLines(data, maxRouteLines)
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
	var routes []DefaultRoute
	for _, r := range rows {
		if r.dst != 0 || r.mask != 0 || r.gw == 0 || r.flags&rtfUp == 0 || r.flags&rtfReject != 0 {
			continue
		}
		gw := r.gw
		if !bigEndian {
			gw = bits.ReverseBytes32(gw)
		}
		routes = append(routes, DefaultRoute{
			Interface: guestagent.Sanitize(r.iface, maxIfaceRunes),
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
func ParseProcNetIPv6Route(data []byte) ([]DefaultRoute, error) {
	var routes []DefaultRoute
	valid := 0
	ls := splitLines(data, maxRouteLines)
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
		iface := guestagent.Sanitize(f[9], maxIfaceRunes)
		if nh.IsLinkLocalUnicast() && iface != "" {
			nh = nh.WithZone(iface)
		}
		routes = append(routes, DefaultRoute{Interface: iface, Gateway: nh, Metric: int(metric)})
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
func ParseWindowsRoutePrint(data []byte) ([]DefaultRoute, error) {
	macs := map[string]string{} // interface index → MAC
	table := 0                  // 0: before the tables, 4 or 6
	headings := 0               // lines ending in ":" seen in this table
	var wrapped []string        // IPv6 row waiting for its gateway line
	var routes []DefaultRoute
	ls := splitLines(data, maxRouteLines)
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

func windowsV4Default(f []string) (DefaultRoute, bool) {
	if len(f) != 5 || f[0] != "0.0.0.0" || f[1] != "0.0.0.0" {
		return DefaultRoute{}, false
	}
	gw, err := netip.ParseAddr(f[2])
	if err != nil || !gw.Is4() || gw.IsUnspecified() {
		return DefaultRoute{}, false // "On-link", "Auf Verbindung"
	}
	ifAddr, err := netip.ParseAddr(f[3])
	if err != nil || !ifAddr.Is4() {
		return DefaultRoute{}, false
	}
	metric, err := strconv.Atoi(f[4])
	if err != nil || metric < 0 {
		return DefaultRoute{}, false
	}
	return DefaultRoute{InterfaceAddr: ifAddr, Gateway: gw, Metric: metric}, true
}

func windowsV6Default(f []string, macs map[string]string) (DefaultRoute, bool) {
	if len(f) != 4 || !isUint(f[0]) || !isUint(f[1]) {
		return DefaultRoute{}, false
	}
	dst, err := netip.ParsePrefix(f[2])
	if err != nil || !dst.Addr().Is6() || dst.Bits() != 0 {
		return DefaultRoute{}, false
	}
	gw, err := netip.ParseAddr(f[3])
	if err != nil || !gw.Is6() || gw.IsUnspecified() || gw.Zone() != "" {
		return DefaultRoute{}, false // "On-link"
	}
	metric, err := strconv.Atoi(f[1])
	if err != nil {
		return DefaultRoute{}, false
	}
	if gw.IsLinkLocalUnicast() {
		gw = gw.WithZone(f[0])
	}
	return DefaultRoute{MAC: macs[f[0]], Gateway: gw, Metric: metric}, true
}

// windowsMAC turns "52 54 00 0c 00 13" into "52:54:00:0c:00:13"; other
// lengths (the 8-byte ISATAP and Teredo ids) give "".
func windowsMAC(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' })
	if len(parts) != 6 {
		return ""
	}
	return strings.ToLower(strings.Join(parts, ":"))
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
