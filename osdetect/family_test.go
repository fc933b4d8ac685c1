package osdetect_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/osdetect"
)

// TestFamilies checks the table: every family has its methods, and its
// ping command is what its parser reads.
func TestFamilies(t *testing.T) {
	for _, name := range []osdetect.Family{osdetect.Linux, osdetect.Windows} {
		f, ok := osdetect.Families[name]
		if !ok {
			t.Fatalf("family %q not registered", name)
		}
		cmd := f.Ping(netip.MustParseAddr("192.0.2.1"), time.Second)
		if cmd.Path == "" || len(cmd.Args) == 0 || cmd.Args[len(cmd.Args)-1] != "192.0.2.1" {
			t.Errorf("%s: ping command %+v does not end with the target", name, cmd)
		}
		if f.RouteSource == "" || f.Routes == nil || f.ParsePing == nil {
			t.Errorf("%s: incomplete family %+v", name, f)
		}
	}
	if _, ok := osdetect.Families[osdetect.Unknown]; ok {
		t.Errorf("Unknown is registered as a family")
	}
}
