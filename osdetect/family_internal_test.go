package osdetect

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// TestFamilies checks the table: every family has its methods, and its
// ping command is what its parser reads.
func TestFamilies(t *testing.T) {
	for _, name := range []Family{Linux, Windows} {
		f, ok := families[name]
		if !ok {
			t.Fatalf("family %q not registered", name)
		}
		cmd := f.ping(netip.MustParseAddr("192.0.2.1"), time.Second)
		if cmd.Path == "" || len(cmd.Args) == 0 || cmd.Args[len(cmd.Args)-1] != "192.0.2.1" {
			t.Errorf("%s: ping command %+v does not end with the target", name, cmd)
		}
		if f.routeSource == "" || f.routes == nil || f.parsePing == nil {
			t.Errorf("%s: incomplete family %+v", name, f)
		}
	}
	if _, ok := families[Unknown]; ok {
		t.Errorf("Unknown is registered as a family")
	}
}

// TestRegister: a new family is one register call; a second registration
// of a name, or a family without its methods, is refused.
func TestRegister(t *testing.T) {
	const freebsd Family = "freebsd"
	defer delete(families, freebsd)
	fam := family{
		osinfoIDs: []string{"freebsd"},
		ping: func(a netip.Addr, _ time.Duration) guestagent.Command {
			return guestagent.Command{Path: "ping", Args: []string{a.String()}}
		},
		parsePing:   func(netip.Addr, guestagent.ExecStatus) PingResult { return PingResult{OK: true} },
		routes:      func(context.Context, *guestagent.Client, guestagent.Info) ([]DefaultRoute, error) { return nil, nil },
		routeSource: "test",
	}
	register(freebsd, fam)
	if got := fromOSInfo(guestagent.OSInfo{ID: "FreeBSD"}); got.Family != freebsd {
		t.Errorf("fromOSInfo(id FreeBSD).Family = %q, want %q", got.Family, freebsd)
	}
	if cmd, err := PingCommand(freebsd, netip.MustParseAddr("192.0.2.1"), time.Second); err != nil || cmd.Path != "ping" || !cmd.CaptureOutput {
		t.Errorf("PingCommand(freebsd) = %+v, %v", cmd, err)
	}
	for _, tt := range []struct {
		name string
		f    Family
		fam  family
	}{
		{"twice", freebsd, fam},
		{"unknown", Unknown, fam},
		{"no ping", "plan9", family{routes: fam.routes, parsePing: fam.parsePing, routeSource: "x"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%s) did not panic", tt.name)
				}
			}()
			register(tt.f, tt.fam)
		}()
	}
}
