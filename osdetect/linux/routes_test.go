package linux_test

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/osdetect/internal/routetest"
	"github.com/vmcheck/vmcheck/osdetect/linux"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseProcNetRoute(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []osdetect.DefaultRoute
	}{
		{"captured", string(routetest.Read(t, "linux-proc-net-route.txt")),
			[]osdetect.DefaultRoute{{Interface: "tap0", Gateway: addr("192.0.2.1"), Metric: 100}}},
		{"captured without default", string(routetest.Read(t, "linux-proc-net-route-nodefault.txt")), nil},
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
			got, err := linux.ParseProcNetRoute([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseProcNetRoute: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProcNetRoute() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := linux.ParseProcNetRoute([]byte("hello\n")); err == nil {
		t.Errorf("ParseProcNetRoute(no header): no error")
	}
}

func TestParseProcNetIPv6Route(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []osdetect.DefaultRoute
	}{
		{"captured", string(routetest.Read(t, "linux-proc-net-ipv6_route.txt")),
			[]osdetect.DefaultRoute{{Interface: "tap0", Gateway: addr("2001:db8::1"), Metric: 1024}}},
		{"captured without default", string(routetest.Read(t, "linux-proc-net-ipv6_route-nodefault.txt")), nil},
		{"link-local gateway gets the interface as zone",
			"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n",
			[]osdetect.DefaultRoute{{Interface: "eth0", Gateway: addr("fe80::1%eth0"), Metric: 1024}}},
		{"source-specific default skipped",
			"00000000000000000000000000000000 00 20010db8000000000000000000000000 40 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := linux.ParseProcNetIPv6Route([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseProcNetIPv6Route: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProcNetIPv6Route() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := linux.ParseProcNetIPv6Route([]byte("Iface Destination\n")); err == nil {
		t.Errorf("ParseProcNetIPv6Route(garbage): no error")
	}
}

func FuzzParseProcNetRoute(f *testing.F) {
	routetest.Seed(f, "linux-proc-net-route*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := linux.ParseProcNetRoute(data)
		if err == nil {
			routetest.Check(t, routes)
		}
	})
}

func FuzzParseProcNetIPv6Route(f *testing.F) {
	routetest.Seed(f, "linux-proc-net-ipv6_route*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := linux.ParseProcNetIPv6Route(data)
		if err == nil {
			routetest.Check(t, routes)
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
	routes, err := linux.ParseProcNetRoute([]byte(b.String()))
	if err != nil || len(routes) != 1 || routes[0].Gateway.String() != "10.0.0.1" {
		t.Fatalf("ParseProcNetRoute(1500 rows, then the default) = %+v, %v; want one default via 10.0.0.1", routes, err)
	}
}
