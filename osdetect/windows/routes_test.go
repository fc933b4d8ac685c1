package windows_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/osdetect/internal/routetest"
	"github.com/vmcheck/vmcheck/osdetect/windows"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

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
			got, err := windows.ParseWindowsRoutePrint(routetest.Read(t, tt.file))
			if err != nil {
				t.Fatalf("ParseWindowsRoutePrint: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseWindowsRoutePrint() = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := windows.ParseWindowsRoutePrint([]byte("The requested operation requires elevation.\r\n")); err == nil {
		t.Errorf("ParseWindowsRoutePrint(no table): no error")
	}
	// A wrapped IPv6 default (long gateway line) is still found.
	wrapped := "IPv6 Route Table\r\n=====\r\nActive Routes:\r\n If Metric Network Destination      Gateway\r\n" +
		"  6    271 ::/0\r\n                                    2001:db8:aaaa:bbbb:cccc:dddd:eeee:1\r\n=====\r\nPersistent Routes:\r\n  None\r\n"
	got, err := windows.ParseWindowsRoutePrint([]byte(wrapped))
	want := []osdetect.DefaultRoute{{Gateway: addr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"), Metric: 271}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseWindowsRoutePrint(wrapped) = %+v, %v; want %+v", got, err, want)
	}
}

func FuzzParseWindowsRoutePrint(f *testing.F) {
	routetest.Seed(f, "windows-route-print*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := windows.ParseWindowsRoutePrint(data)
		if err != nil {
			return
		}
		routetest.Check(t, routes)
		for _, r := range routes {
			if r.Gateway.Is4() && !r.InterfaceAddr.Is4() {
				t.Errorf("IPv4 route %+v without interface address", r)
			}
		}
	})
}
