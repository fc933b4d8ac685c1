package osdetect

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// TestRegister: a new family is one Register call; a second registration
// of a name, or a family without its methods, is refused.
func TestRegister(t *testing.T) {
	const freebsd Family = "freebsd"
	defer delete(families, freebsd)
	fam := Spec{
		OSInfoIDs: []string{"freebsd"},
		Ping: func(a netip.Addr, _ time.Duration) guestagent.Command {
			return guestagent.Command{Path: "ping", Args: []string{a.String()}}
		},
		ParsePing:   func(netip.Addr, guestagent.ExecStatus) PingResult { return PingResult{OK: true} },
		Routes:      func(context.Context, *guestagent.Client, guestagent.Info) ([]DefaultRoute, error) { return nil, nil },
		RouteSource: "test",
	}
	Register(freebsd, fam)
	if got := fromOSInfo(guestagent.OSInfo{ID: "FreeBSD"}); got.Family != freebsd {
		t.Errorf("fromOSInfo(id FreeBSD).Family = %q, want %q", got.Family, freebsd)
	}
	if cmd, err := PingCommand(freebsd, netip.MustParseAddr("192.0.2.1"), time.Second); err != nil || cmd.Path != "ping" || !cmd.CaptureOutput {
		t.Errorf("PingCommand(freebsd) = %+v, %v", cmd, err)
	}
	for _, tt := range []struct {
		name string
		f    Family
		fam  Spec
	}{
		{"twice", freebsd, fam},
		{"unknown", Unknown, fam},
		{"no ping", "plan9", Spec{Routes: fam.Routes, ParsePing: fam.ParsePing, RouteSource: "x"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", tt.name)
				}
			}()
			Register(tt.f, tt.fam)
		}()
	}
}
