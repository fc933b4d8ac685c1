package osdetect_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// benchStatus is the ExecStatus of a ping whose output is testdata/ping/name.
func benchStatus(b *testing.B, name string, code int) guestagent.ExecStatus {
	b.Helper()
	out, err := os.ReadFile(filepath.Join("..", "testdata", "ping", name))
	if err != nil {
		b.Fatal(err)
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out}
}

// BenchmarkParsePing interprets ping outputs captured from iputils and
// busybox and documented for Windows (testdata/ping).
func BenchmarkParsePing(b *testing.B) {
	for _, bc := range []struct {
		name   string
		fam    osdetect.Family
		target string
		file   string
		code   int
		ok     bool
	}{
		{"linux-reply", osdetect.Linux, "192.0.2.13", "linux-iputils-reply-v4.txt", 0, true},
		{"linux-noreply", osdetect.Linux, "192.0.2.1", "linux-iputils-noreply-v4.txt", 1, false},
		{"busybox-reply", osdetect.Linux, "192.0.2.13", "linux-busybox-reply-v4.txt", 0, true},
		{"windows-reply", osdetect.Windows, "192.0.2.1", "windows-reply-v4.txt", 0, true},
		{"windows-unreachable", osdetect.Windows, "192.0.2.1", "windows-host-unreachable-exit0.txt", 0, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := benchStatus(b, bc.file, bc.code)
			target := netip.MustParseAddr(bc.target)
			if got := osdetect.ParsePing(bc.fam, target, st); got.OK != bc.ok {
				b.Fatalf("ParsePing(%s) = %+v, want OK %t", bc.file, got, bc.ok)
			}
			b.ReportAllocs()
			for b.Loop() {
				osdetect.ParsePing(bc.fam, target, st)
			}
		})
	}
}

func BenchmarkPingCommand(b *testing.B) {
	target := netip.MustParseAddr("203.0.113.10")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := osdetect.PingCommand(osdetect.Linux, target, 2*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
