package osdetect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/osdetect"
)

func readRoutes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata/routes", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseProcNetRoute(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []osdetect.DefaultRoute
	}{
		{"captured", string(readRoutes(t, "linux-proc-net-route.txt")),
			[]osdetect.DefaultRoute{{Interface: "tap0", Gateway: addr("192.0.2.1"), Metric: 100}}},
		{"captured without default", string(readRoutes(t, "linux-proc-net-route-nodefault.txt")), nil},
		{"two defaults, one down, one reject",
			"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
				"eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
				"eth1\t00000000\t01010A0A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n" +
				"eth2\t00000000\t01020A0A\t0002\t0\t0\t300\t00000000\t0\t0\t0\n" +
				"*\t00000000\t01030A0A\t0203\t0\t0\t400\t00000000\t0\t0\t0\n" +
				"eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
			[]osdetect.DefaultRoute{
				{Interface: "eth0", Gateway: addr("192.168.2.1"), Metric: 100},
				{Interface: "eth1", Gateway: addr("10.10.1.1"), Metric: 200},
			}},
		{"big-endian guest (s390x): masks read contiguous only as big-endian",
			"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
				"enc1\t00000000\tC0000201\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
				"enc1\tC0000200\t00000000\t0001\t0\t0\t0\tFFFFFF00\t0\t0\t0\n",
			[]osdetect.DefaultRoute{{Interface: "enc1", Gateway: addr("192.0.2.1")}}},
		{"malformed rows skipped",
			"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
				"eth0\t00000000\tZZ02A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
				"eth0 short\n" +
				"eth\x1b0\t00000000\t0102A8C0\t0003\t0\t0\t-1\t00000000\t0\t0\t0\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := osdetect.ParseProcNetRoute([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseProcNetRoute: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProcNetRoute() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := osdetect.ParseProcNetRoute([]byte("hello\n")); err == nil {
		t.Errorf("ParseProcNetRoute(no header): no error")
	}
}

func TestParseProcNetIPv6Route(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []osdetect.DefaultRoute
	}{
		{"captured", string(readRoutes(t, "linux-proc-net-ipv6_route.txt")),
			[]osdetect.DefaultRoute{{Interface: "tap0", Gateway: addr("2001:db8::1"), Metric: 1024}}},
		{"captured without default", string(readRoutes(t, "linux-proc-net-ipv6_route-nodefault.txt")), nil},
		{"link-local gateway gets the interface as zone",
			"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n",
			[]osdetect.DefaultRoute{{Interface: "eth0", Gateway: addr("fe80::1%eth0"), Metric: 1024}}},
		{"source-specific default skipped",
			"00000000000000000000000000000000 00 20010db8000000000000000000000000 40 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := osdetect.ParseProcNetIPv6Route([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseProcNetIPv6Route: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProcNetIPv6Route() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := osdetect.ParseProcNetIPv6Route([]byte("Iface Destination\n")); err == nil {
		t.Errorf("ParseProcNetIPv6Route(garbage): no error")
	}
}

func TestParseWindowsRoutePrint(t *testing.T) {
	tests := []struct {
		file string
		want []osdetect.DefaultRoute
	}{
		// Microsoft's documentation; the persistent default (metric 5) is
		// configuration and must not count.
		{"windows-route-print-storsimple.txt", []osdetect.DefaultRoute{
			{InterfaceAddr: addr("192.168.111.101"), Gateway: addr("192.168.111.100"), Metric: 15},
		}},
		// German, OEM code page 850.
		{"windows-route-print-de.txt", []osdetect.DefaultRoute{
			{InterfaceAddr: addr("192.168.2.104"), Gateway: addr("192.168.2.1"), Metric: 10},
			{MAC: "28:b2:bd:a7:67:ff", Gateway: addr("fe80::1%4"), Metric: 266},
		}},
		{"windows-route-print-virtio.txt", []osdetect.DefaultRoute{
			{InterfaceAddr: addr("192.0.2.13"), Gateway: addr("192.0.2.1"), Metric: 15},
			{InterfaceAddr: addr("198.51.100.20"), Gateway: addr("198.51.100.1"), Metric: 271},
			{MAC: "52:54:00:0c:00:13", Gateway: addr("fe80::1%6"), Metric: 271},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := osdetect.ParseWindowsRoutePrint(readRoutes(t, tt.file))
			if err != nil {
				t.Fatalf("ParseWindowsRoutePrint: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseWindowsRoutePrint() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := osdetect.ParseWindowsRoutePrint([]byte("The requested operation requires elevation.\r\n")); err == nil {
		t.Errorf("ParseWindowsRoutePrint(no table): no error")
	}
	// A wrapped IPv6 default (long gateway line) is still found.
	wrapped := "IPv6 Route Table\r\n=====\r\nActive Routes:\r\n If Metric Network Destination      Gateway\r\n" +
		"  6    271 ::/0\r\n                                    2001:db8:aaaa:bbbb:cccc:dddd:eeee:1\r\n=====\r\nPersistent Routes:\r\n  None\r\n"
	got, err := osdetect.ParseWindowsRoutePrint([]byte(wrapped))
	want := []osdetect.DefaultRoute{{Gateway: addr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"), Metric: 271}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseWindowsRoutePrint(wrapped) = %+v, %v; want %+v", got, err, want)
	}
}

// info returns the guest-info of a transcript.
func info(t *testing.T, transcript string) guestagent.Info {
	t.Helper()
	i, err := guestagent.New(agenttest.Replay(t, qga+transcript)).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestDefaultRoutes(t *testing.T) {
	withGetRoute := guestagent.Info{Version: "9.1.0", Commands: map[string]guestagent.CommandInfo{
		"guest-network-get-route": {Enabled: true}, "guest-file-open": {Enabled: true},
	}}
	tests := []struct {
		name       string
		transcript string
		f          osdetect.Family
		info       guestagent.Info
		want       []osdetect.DefaultRoute
		source     string
	}{
		{"guest-network-get-route", "linux-network-get-route.jsonl", osdetect.Linux, withGetRoute, []osdetect.DefaultRoute{
			{Interface: "tap0", Gateway: addr("192.0.2.1"), Metric: 100},
			{Interface: "tap0", Gateway: addr("2001:db8::1"), Metric: 1024},
		}, "guest-route"},
		{"guest-file-read", "linux-proc-route.jsonl", osdetect.Linux, info(t, "linux-basic.jsonl"), []osdetect.DefaultRoute{
			{Interface: "tap0", Gateway: addr("192.0.2.1"), Metric: 100},
			{Interface: "tap0", Gateway: addr("2001:db8::1"), Metric: 1024},
		}, "guest-proc-route"},
		{"guest-file-* disabled: cat", "linux-file-disabled.jsonl", osdetect.Linux, info(t, "linux-file-disabled.jsonl"), []osdetect.DefaultRoute{
			{Interface: "tap0", Gateway: addr("192.0.2.1"), Metric: 100},
			{Interface: "tap0", Gateway: addr("2001:db8::1"), Metric: 1024},
		}, "guest-proc-route"},
		{"route print", "windows-route-print.jsonl", osdetect.Windows, guestagent.Info{}, []osdetect.DefaultRoute{
			{InterfaceAddr: addr("192.0.2.13"), Gateway: addr("192.0.2.1"), Metric: 15},
			{InterfaceAddr: addr("198.51.100.20"), Gateway: addr("198.51.100.1"), Metric: 271},
			{MAC: "52:54:00:0c:00:13", Gateway: addr("fe80::1%6"), Metric: 271},
		}, "guest-route-print"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := guestagent.New(agenttest.Replay(t, qga+tt.transcript))
			got, source, err := osdetect.DefaultRoutes(context.Background(), c, tt.f, tt.info)
			if err != nil {
				t.Fatalf("DefaultRoutes: %v", err)
			}
			if source != tt.source || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DefaultRoutes() = %+v, %q; want %+v, %q", got, source, tt.want, tt.source)
			}
		})
	}

	// An unknown family has no method.
	c := guestagent.New(agenttest.New(func(cmd string, _ json.RawMessage) (any, error) {
		return nil, agenttest.NotFound(cmd)
	}))
	if _, _, err := osdetect.DefaultRoutes(context.Background(), c, osdetect.Unknown, guestagent.Info{}); err == nil {
		t.Errorf("DefaultRoutes(Unknown): no error")
	}
}

func checkRoutes(t *testing.T, routes []osdetect.DefaultRoute) {
	t.Helper()
	for _, r := range routes {
		if !r.Gateway.IsValid() || r.Gateway.IsUnspecified() {
			t.Errorf("route %+v: bad gateway", r)
		}
		if z := r.Gateway.Zone(); z != "" && !r.Gateway.IsLinkLocalUnicast() {
			t.Errorf("route %+v: zone on a non-link-local gateway", r)
		}
		if r.Metric < 0 {
			t.Errorf("route %+v: negative metric", r)
		}
		for _, s := range []string{r.Interface, r.MAC, r.Gateway.Zone()} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 || strings.ContainsAny(s, "\x00\n\r\t") {
				t.Errorf("route %+v: unsanitised string %q", r, s)
			}
		}
	}
}

func seedRoutes(f *testing.F, glob string) {
	paths, _ := filepath.Glob("../testdata/routes/" + glob)
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
}

func FuzzParseProcNetRoute(f *testing.F) {
	seedRoutes(f, "linux-proc-net-route*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := osdetect.ParseProcNetRoute(data)
		if err == nil {
			checkRoutes(t, routes)
		}
	})
}

func FuzzParseProcNetIPv6Route(f *testing.F) {
	seedRoutes(f, "linux-proc-net-ipv6_route*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := osdetect.ParseProcNetIPv6Route(data)
		if err == nil {
			checkRoutes(t, routes)
		}
	})
}

func FuzzParseWindowsRoutePrint(f *testing.F) {
	seedRoutes(f, "windows-route-print*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := osdetect.ParseWindowsRoutePrint(data)
		if err != nil {
			return
		}
		checkRoutes(t, routes)
		for _, r := range routes {
			if r.Gateway.Is4() && !r.InterfaceAddr.Is4() {
				t.Errorf("IPv4 route %+v without interface address", r)
			}
		}
	})
}

// TestParseProcNetRouteLongTable: a default route after the first thousand
// rows is still found (the ping parsers' 1000-line cap does not apply).
func TestParseProcNetRouteLongTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "eth0\t%08X\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", i<<8)
	}
	b.WriteString("eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
	routes, err := osdetect.ParseProcNetRoute([]byte(b.String()))
	if err != nil || len(routes) != 1 || routes[0].Gateway.String() != "10.0.0.1" {
		t.Fatalf("ParseProcNetRoute(1500 rows, then the default) = %+v, %v; want one default via 10.0.0.1", routes, err)
	}
}
