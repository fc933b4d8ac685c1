package osdetect_test

import (
	"context"
	"os"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/osdetect/linux"
)

// TestDefaultRoutesFewCalls: with guest-exec allowed, one cat reads both
// Linux tables (two agent calls, no guest-file-*); without IPv6 the IPv4
// table is still used; with guest-exec blocked, guest-file-* reads them.
func TestDefaultRoutesFewCalls(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../testdata/routes/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v4, v6 := read("linux-proc-net-route.txt"), read("linux-proc-net-ipv6_route.txt")
	execOK := guestagent.Info{Commands: map[string]guestagent.CommandInfo{
		"guest-exec": {Enabled: true}, "guest-exec-status": {Enabled: true}, "guest-file-open": {Enabled: true}, "guest-file-read": {Enabled: true}}}
	execBlocked := guestagent.Info{Commands: map[string]guestagent.CommandInfo{
		"guest-exec": {Enabled: false}, "guest-file-open": {Enabled: true}, "guest-file-read": {Enabled: true}}}
	tests := []struct {
		name      string
		info      guestagent.Info
		files     map[string][]byte
		wantCalls int
		want6     bool
	}{
		{"both tables, one cat", execOK, map[string][]byte{"/proc/net/route": v4, "/proc/net/ipv6_route": v6}, 2, true},
		{"no IPv6", execOK, map[string][]byte{"/proc/net/route": v4}, 2, false},
		{"exec blocked: guest-file-*", execBlocked, map[string][]byte{"/proc/net/route": v4, "/proc/net/ipv6_route": v6}, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &agenttest.Guest{Files: tt.files, Spawn: func(cmd guestagent.Command) (agenttest.Process, error) {
				// cat of a missing file prints the others and exits 1.
				code := 1
				return agenttest.Exited(guestagent.ExecStatus{ExitCode: &code, Stdout: v4, Stderr: []byte("cat: /proc/net/ipv6_route: No such file or directory\n")}), nil
			}}
			a := agenttest.New(g.Answer)
			routes, source, err := osdetect.DefaultRoutesFewCalls(context.Background(), guestagent.New(a), osdetect.Linux, tt.info)
			if err != nil || source != linux.SourceGuestProcRoute || len(routes) == 0 || !routes[0].Gateway.Is4() {
				t.Fatalf("DefaultRoutesFewCalls() = %+v, %q, %v", routes, source, err)
			}
			has6 := routes[len(routes)-1].Gateway.Is6()
			calls := 0
			for _, c := range []string{"guest-exec", "guest-exec-status", "guest-file-open", "guest-file-read", "guest-file-close"} {
				calls += a.Calls(c)
			}
			if calls > tt.wantCalls || has6 != tt.want6 {
				t.Errorf("%d agent calls, IPv6 route %v; want ≤ %d, %v", calls, has6, tt.wantCalls, tt.want6)
			}
		})
	}
}
