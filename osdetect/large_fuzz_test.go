package osdetect_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/osdetect/internal/routetest"
	"github.com/vmcheck/vmcheck/osdetect/linux"
	"github.com/vmcheck/vmcheck/osdetect/windows"
)

// maxLargeInput caps what FuzzParsersLarge builds from (data, unit, reps).
const maxLargeInput = 4 << 20

// Rows repeated into large inputs that parse: a default route of each
// table, a ping reply line of each OS.
const (
	procRouteHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	procRouteRow    = "eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	procIPv6Row     = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
	winRouteHeader  = "IPv4 Route Table\r\n===\r\nActive Routes:\r\nNetwork Destination        Netmask          Gateway       Interface  Metric\r\n"
	winRouteRow     = "          0.0.0.0          0.0.0.0       192.0.2.1     192.0.2.10     25\r\n"
	winReplyLine    = "Reply from 192.0.2.1: bytes=32 time=1ms TTL=64\r\n"
	linuxReplyLine  = "64 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=0.050 ms\n"
	linuxICMPLine   = "From 192.0.2.13 icmp_seq=1 Destination Host Unreachable\n"
)

// osdetectFloods returns hostile inputs of about n bytes.
func osdetectFloods(n int) map[string][]byte {
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), max(n/len(s), 1)) }
	return map[string][]byte{
		"newlines":      rep("\n"),
		"cr":            rep("\r"),
		"crlf":          rep("\r\n"),
		"ff":            bytes.Repeat([]byte{0xFF}, n),
		"nul":           make([]byte, n),
		"braces":        rep("{}"),
		"nesting":       rep("["),
		"longline":      rep("a"),
		"bidi":          rep("\u202E"),
		"colons":        rep(":"),
		"addrs":         rep("192.0.2.1"),
		"addrcolons":    rep("192.0.2.1:"),
		"timeeq":        rep("=<"),
		"procroute":     append([]byte(procRouteHeader), rep(procRouteRow)...),
		"procipv6":      rep(procIPv6Row),
		"winroute":      append([]byte(winRouteHeader), rep(winRouteRow)...),
		"winheadings":   rep("IPv6:\n"),
		"winreply":      rep(winReplyLine),
		"winreplynottl": rep("Reply from 192.0.2.1: time=1ms\r\n"),
		"linuxreply":    rep(linuxReplyLine),
		"linuxicmp":     rep(linuxICMPLine),
		"bytesfrom":     rep("bytes from "),
	}
}

// plainLarge returns n bytes of realistic text: a captured ping or route
// table repeated.
func plainLarge(tb testing.TB, dir, name string, n int) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Repeat(b, max(n/len(b), 1))
}

// FuzzParsersLarge runs every ping and route parser on inputs of up to
// 4 MiB: data followed by unit repeated reps times, as the output of a
// ping that exited with code. Beyond FuzzParsePing*
// and FuzzParse*Route, which start from small captures, it is seeded with
// floods of 1 and 4 MiB. Properties: no panic; ParsePing results are
// consistent, with a sanitised reason of at most 200 runes; routes have
// valid gateways, sanitised interface names of at most 64 runes, and there
// are no more of them than input lines.
func FuzzParsersLarge(f *testing.F) {
	for _, dir := range []string{"ping", "routes"} {
		paths, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.txt"))
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			f.Add(b, []byte(nil), 0, 0)
			f.Add(b, []byte(nil), 0, 1)
		}
	}
	floods := osdetectFloods(1 << 20)
	for _, name := range []string{"newlines", "cr", "ff", "nul", "longline", "bidi", "addrcolons", "timeeq",
		"procroute", "procipv6", "winroute", "winheadings", "winreply", "linuxicmp", "bytesfrom"} {
		f.Add(floods[name], []byte(nil), 0, 1)
	}
	f.Add(floods["linuxreply"], []byte(nil), 0, 0)
	f.Add([]byte(nil), []byte("\n"), 4<<20, 2)
	f.Add([]byte(procRouteHeader), []byte(procRouteRow), 1<<20, 0)
	f.Add([]byte(winRouteHeader), []byte(winRouteRow), 1<<20, 0)
	f.Add([]byte("Pinging 192.0.2.1 with 32 bytes of data:\r\n"), []byte("Request timed out.\r\n"), 1<<20, 1)
	f.Fuzz(func(t *testing.T, data, unit []byte, reps, code int) {
		if len(unit) > 0 {
			reps = min(max(reps, 0), (maxLargeInput-len(data))/len(unit))
			if reps > 0 {
				data = append(data[:len(data):len(data)], bytes.Repeat(unit, reps)...)
			}
		}
		if len(data) > maxLargeInput {
			data = data[:maxLargeInput]
		}
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1

		st := guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: data, Stderr: data}
		checkResult(t, osdetect.ParsePing(osdetect.Linux, netip.MustParseAddr("192.0.2.1"), st))
		for _, target := range []string{"192.0.2.1", "2001:db8::1"} {
			r := osdetect.ParsePing(osdetect.Windows, netip.MustParseAddr(target), st)
			checkResult(t, r)
			if r.OK && !bytes.Contains(data, []byte(target)) {
				t.Errorf("Windows ParsePing OK without the target %s in the output", target)
			}
		}
		parsers := []struct {
			name  string
			parse func([]byte) ([]osdetect.DefaultRoute, error)
		}{
			{"ParseProcNetRoute", linux.ParseProcNetRoute},
			{"ParseProcNetIPv6Route", linux.ParseProcNetIPv6Route},
			{"ParseWindowsRoutePrint", windows.ParseWindowsRoutePrint},
		}
		for _, p := range parsers {
			routes, err := p.parse(data)
			if err != nil {
				continue
			}
			routetest.Check(t, routes)
			if len(routes) > lines {
				t.Errorf("%s: %d routes from %d lines", p.name, len(routes), lines)
			}
		}
	})
}

// BenchmarkParsePingLarge parses 256 KiB and 1 MiB of ping output: plain
// (captures repeated) against floods. Output of a real check is cut to
// 64 KiB (checker) or 1 MiB (guestagent.MaxOutput).
func BenchmarkParsePingLarge(b *testing.B) {
	target := netip.MustParseAddr("192.0.2.1")
	for _, n := range []int{256 << 10, 1 << 20} {
		floods := osdetectFloods(n)
		inputs := []struct {
			name string
			fam  osdetect.Family
			code int
			data []byte
		}{
			{"linux/plain", osdetect.Linux, 1, plainLarge(b, "ping", "linux-iputils-noreply-v4.txt", n)},
			{"linux/newlines", osdetect.Linux, 1, floods["newlines"]},
			{"linux/bytesfrom", osdetect.Linux, 0, floods["bytesfrom"]},
			{"linux/icmp", osdetect.Linux, 1, floods["linuxicmp"]},
			{"windows/plain", osdetect.Windows, 0, plainLarge(b, "ping", "windows-timeout-v4.txt", n)},
			{"windows/newlines", osdetect.Windows, 0, floods["newlines"]},
			{"windows/addrs", osdetect.Windows, 0, floods["addrs"]},
			{"windows/addrcolons", osdetect.Windows, 0, floods["addrcolons"]},
		}
		for _, in := range inputs {
			st := guestagent.ExecStatus{Exited: true, ExitCode: &in.code, Stdout: in.data, Stderr: in.data}
			b.Run(in.name+"/"+osdetectSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				for b.Loop() {
					osdetect.ParsePing(in.fam, target, st)
				}
			})
		}
	}
}

// BenchmarkParseRoutesLarge parses 256 KiB and 1 MiB route tables (the
// limit DefaultRoutes reads): plain (captures repeated) against floods.
func BenchmarkParseRoutesLarge(b *testing.B) {
	for _, n := range []int{256 << 10, 1 << 20} {
		floods := osdetectFloods(n)
		inputs := []struct {
			name  string
			parse func([]byte) ([]osdetect.DefaultRoute, error)
			data  []byte
		}{
			{"proc/plain", linux.ParseProcNetRoute, plainLarge(b, "routes", "linux-proc-net-route.txt", n)},
			{"proc/newlines", linux.ParseProcNetRoute, append([]byte(procRouteHeader), floods["newlines"]...)},
			{"proc/defaults", linux.ParseProcNetRoute, floods["procroute"]},
			{"ipv6/plain", linux.ParseProcNetIPv6Route, plainLarge(b, "routes", "linux-proc-net-ipv6_route.txt", n)},
			{"ipv6/newlines", linux.ParseProcNetIPv6Route, floods["newlines"]},
			{"windows/plain", windows.ParseWindowsRoutePrint, plainLarge(b, "routes", "windows-route-print-virtio.txt", n)},
			{"windows/newlines", windows.ParseWindowsRoutePrint, floods["newlines"]},
			{"windows/headings", windows.ParseWindowsRoutePrint, floods["winheadings"]},
			{"windows/defaults", windows.ParseWindowsRoutePrint, floods["winroute"]},
		}
		for _, in := range inputs {
			b.Run(in.name+"/"+osdetectSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				for b.Loop() {
					_, _ = in.parse(in.data)
				}
			})
		}
	}
}

// osdetectSize names a size for a sub-benchmark: "256KiB", "1MiB".
func osdetectSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
