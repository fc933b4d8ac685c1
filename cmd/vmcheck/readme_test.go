package main

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/osdetect"
)

// TestREADMEPingArgv keeps the README's Security section in step with the
// ping argv vmcheck really runs inside guests.
func TestREADMEPingArgv(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	tests := []struct {
		family osdetect.Family
		target string
		wait   string // the placeholder the README uses for the wait
	}{
		{osdetect.Linux, "192.0.2.1", "<s>"},
		{osdetect.Linux, "2001:db8::1", "<s>"},
		{osdetect.Windows, "192.0.2.1", "<ms>"},
		{osdetect.Windows, "2001:db8::1", "<ms>"},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.target)
		cmd, err := osdetect.PingCommand(tt.family, addr, 7*time.Second)
		if err != nil {
			t.Fatalf("PingCommand(%s, %s): %v", tt.family, addr, err)
		}
		argv := []string{cmd.Path}
		for _, a := range cmd.Args {
			switch a {
			case "7", "7000":
				a = tt.wait
			case addr.String():
				a = "ADDR"
			}
			argv = append(argv, a)
		}
		want := "`" + strings.Join(argv, " ") + "`"
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not show the %s ping argv %s", tt.family, want)
		}
	}
}
