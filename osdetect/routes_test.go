package osdetect_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/osdetect"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

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
