package osdetect_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
	"github.com/vmcheck/vmcheck/osdetect"
)

func TestPingCommand(t *testing.T) {
	tests := []struct {
		name    string
		f       osdetect.Family
		target  string
		timeout time.Duration
		want    []string // path then args; nil: want an error
	}{
		// The argv of the captured transcripts (linux-ping-*.jsonl).
		{"linux v4", osdetect.Linux, "192.0.2.13", time.Second, []string{"ping", "-c", "1", "-W", "1", "192.0.2.13"}},
		{"linux v6", osdetect.Linux, "2001:db8::13", time.Second, []string{"ping", "-c", "1", "-W", "1", "-6", "2001:db8::13"}},
		{"linux rounds up", osdetect.Linux, "192.0.2.1", 1200 * time.Millisecond, []string{"ping", "-c", "1", "-W", "2", "192.0.2.1"}},
		{"linux at least 1", osdetect.Linux, "192.0.2.1", 0, []string{"ping", "-c", "1", "-W", "1", "192.0.2.1"}},
		{"linux capped", osdetect.Linux, "192.0.2.1", 48 * time.Hour, []string{"ping", "-c", "1", "-W", "3600", "192.0.2.1"}},
		{"linux link-local", osdetect.Linux, "fe80::1%eth0", time.Second, []string{"ping", "-c", "1", "-W", "1", "-6", "fe80::1%eth0"}},
		{"linux mapped v4", osdetect.Linux, "::ffff:192.0.2.1", time.Second, []string{"ping", "-c", "1", "-W", "1", "192.0.2.1"}},
		{"windows v4", osdetect.Windows, "192.0.2.1", time.Second, []string{"ping.exe", "-n", "1", "-w", "1000", "192.0.2.1"}},
		{"windows v6", osdetect.Windows, "2001:db8::1", 1500 * time.Microsecond, []string{"ping.exe", "-n", "1", "-w", "2", "-6", "2001:db8::1"}},
		{"windows link-local", osdetect.Windows, "fe80::1%6", time.Second, []string{"ping.exe", "-n", "1", "-w", "1000", "-6", "fe80::1%6"}},
		{"unknown family", osdetect.Unknown, "192.0.2.1", time.Second, nil},
		{"unspecified", osdetect.Linux, "0.0.0.0", time.Second, nil},
		{"unspecified v6", osdetect.Linux, "::", time.Second, nil},
		{"multicast", osdetect.Linux, "224.0.0.1", time.Second, nil},
		{"multicast v6", osdetect.Windows, "ff02::1", time.Second, nil},
		{"broadcast", osdetect.Windows, "255.255.255.255", time.Second, nil},
		{"link-local without zone", osdetect.Linux, "fe80::1", time.Second, nil},
		{"zone on global", osdetect.Linux, "2001:db8::1%eth0", time.Second, nil},
		{"bad zone", osdetect.Linux, "fe80::1%eth0 -f", time.Second, nil},
		{"invalid", osdetect.Linux, "", time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var target netip.Addr
			if tt.target != "" {
				target = netip.MustParseAddr(tt.target)
			}
			cmd, err := osdetect.PingCommand(tt.f, target, tt.timeout)
			if tt.want == nil {
				if err == nil {
					t.Errorf("PingCommand(%s, %s) = %+v, want an error", tt.f, tt.target, cmd)
				}
				return
			}
			if err != nil {
				t.Fatalf("PingCommand(%s, %s): %v", tt.f, tt.target, err)
			}
			got := append([]string{cmd.Path}, cmd.Args...)
			if !reflect.DeepEqual(got, tt.want) || !cmd.CaptureOutput || cmd.Env != nil || cmd.Input != nil {
				t.Errorf("PingCommand(%s, %s, %v) = %q (%+v), want %q with output captured", tt.f, tt.target, tt.timeout, got, cmd, tt.want)
			}
		})
	}
}

// status builds an ExecStatus from a testdata/ping file (and its
// .stderr.txt companion, if any).
func status(t testing.TB, name string, code int) guestagent.ExecStatus {
	t.Helper()
	out, err := os.ReadFile(filepath.Join("../testdata/ping", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := os.ReadFile(filepath.Join("../testdata/ping", name+".stderr.txt"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out, Stderr: errOut}
}

func TestParsePing(t *testing.T) {
	tests := []struct {
		file   string
		f      osdetect.Family
		target string
		code   int
		want   osdetect.PingResult
	}{
		// Captured here (see testdata/ping/README.md).
		{"linux-iputils-reply-v4", osdetect.Linux, "192.0.2.13", 0, osdetect.PingResult{OK: true, RTT: 50 * time.Microsecond}},
		{"linux-iputils-reply-v6", osdetect.Linux, "2001:db8::13", 0, osdetect.PingResult{OK: true, RTT: 38 * time.Microsecond}},
		{"linux-busybox-reply-v4", osdetect.Linux, "192.0.2.13", 0, osdetect.PingResult{OK: true, RTT: 35 * time.Microsecond}},
		{"linux-iputils-noreply-v4", osdetect.Linux, "198.51.100.77", 1, osdetect.PingResult{Error: "no reply"}},
		{"linux-iputils-noreply-v6", osdetect.Linux, "2001:db8:ffff::77", 1, osdetect.PingResult{Error: "no reply"}},
		{"linux-busybox-noreply-v4", osdetect.Linux, "198.51.100.77", 1, osdetect.PingResult{Error: "no reply"}},
		{"linux-busybox-noreply-arp", osdetect.Linux, "198.51.100.77", 1, osdetect.PingResult{Error: "no reply"}},
		{"linux-iputils-host-unreachable", osdetect.Linux, "198.51.100.77", 1, osdetect.PingResult{Error: "destination host unreachable (reported by 192.0.2.13)"}},
		{"linux-iputils-connect-unreachable", osdetect.Linux, "198.51.100.77", 2, osdetect.PingResult{Error: "exit code 2: ping: connect: Network is unreachable"}},
		{"linux-iputils-no-route-to-host", osdetect.Linux, "203.0.113.9", 2, osdetect.PingResult{Error: "exit code 2: ping: connect: No route to host"}},
		{"linux-iputils-unknown-host", osdetect.Linux, "192.0.2.1", 2, osdetect.PingResult{Error: "exit code 2: ping: no-such-host.invalid: Temporary failure in name resolution"}},
		{"linux-busybox-sendto-unreachable", osdetect.Linux, "198.51.100.77", 1, osdetect.PingResult{Error: "exit code 1: ping: sendto: Network is unreachable"}},
		{"linux-busybox-bad-address", osdetect.Linux, "192.0.2.1", 1, osdetect.PingResult{Error: "exit code 1: ping: bad address 'no-such-host.invalid'"}},
		// From public documentation (see testdata/ping/README.md).
		{"windows-reply-v4", osdetect.Windows, "192.0.2.1", 0, osdetect.PingResult{OK: true, RTT: 12 * time.Millisecond}},
		{"windows-reply-v4-lt1ms", osdetect.Windows, "192.0.2.1", 0, osdetect.PingResult{OK: true}},
		{"windows-reply-v6", osdetect.Windows, "2001:db8::1", 0, osdetect.PingResult{OK: true}},
		{"windows-reply-v6-linklocal", osdetect.Windows, "fe80::1%6", 0, osdetect.PingResult{OK: true, RTT: time.Millisecond}},
		{"windows-de-reply-v4", osdetect.Windows, "192.0.2.1", 0, osdetect.PingResult{OK: true}},
		{"windows-timeout-v4", osdetect.Windows, "192.0.2.1", 1, osdetect.PingResult{Error: "no reply"}},
		{"windows-de-timeout-v4", osdetect.Windows, "192.0.2.1", 1, osdetect.PingResult{Error: "no reply"}},
		{"windows-host-unreachable-exit0", osdetect.Windows, "198.51.100.77", 0, osdetect.PingResult{Error: "destination host unreachable (reported by 192.0.2.13)"}},
		{"windows-net-unreachable-exit0", osdetect.Windows, "198.51.100.77", 0, osdetect.PingResult{Error: "destination net unreachable (reported by 192.0.2.1)"}},
		// A reply naming another address does not count.
		{"windows-reply-v4", osdetect.Windows, "192.0.2.10", 0, osdetect.PingResult{Error: "reply came from 192.0.2.1, not from the target"}},
		{"windows-reply-v4", osdetect.Windows, "192.0.2.11", 2, osdetect.PingResult{Error: "exit code 2: reply came from 192.0.2.1, not from the target"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.target, func(t *testing.T) {
			got := osdetect.ParsePing(tt.f, netip.MustParseAddr(tt.target), status(t, tt.file, tt.code))
			if got != tt.want {
				t.Errorf("ParsePing(%s, %s, %s) = %+v, want %+v", tt.f, tt.target, tt.file, got, tt.want)
			}
		})
	}
}

func TestParsePingStatus(t *testing.T) {
	sig := 15
	ntstatus := int(0xC000013A)
	code := 0
	target := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name string
		f    osdetect.Family
		st   guestagent.ExecStatus
		want string
	}{
		{"running", osdetect.Linux, guestagent.ExecStatus{}, "ping has not finished"},
		{"signal", osdetect.Linux, guestagent.ExecStatus{Exited: true, Signal: &sig}, "ping was killed by signal 15"},
		{"ntstatus", osdetect.Windows, guestagent.ExecStatus{Exited: true, Signal: &ntstatus}, "ping.exe ended with status 0xC000013A"},
		{"no code", osdetect.Linux, guestagent.ExecStatus{Exited: true}, "ping ended without an exit code"},
		{"windows empty", osdetect.Windows, guestagent.ExecStatus{Exited: true, ExitCode: &code}, "no reply line in the output of ping.exe"},
		{"unknown family", osdetect.Unknown, guestagent.ExecStatus{Exited: true, ExitCode: &code}, `cannot read ping output of OS family "unknown"`},
		{"linux signal sanitised stderr", osdetect.Linux, guestagent.ExecStatus{Exited: true, ExitCode: intp(2), Stderr: []byte("\n\x1b[31mping: evil\u202e\x00 line\nsecond")}, "exit code 2: [31mping: evil line"},
	}
	for _, tt := range tests {
		got := osdetect.ParsePing(tt.f, target, tt.st)
		if got.OK || got.Error != tt.want {
			t.Errorf("%s: ParsePing() = %+v, want error %q", tt.name, got, tt.want)
		}
	}
}

func intp(v int) *int { return &v }

// End to end over the captured agent: PingCommand, Run, ParsePing.
func TestPingThroughAgent(t *testing.T) {
	tests := []struct {
		transcript string
		f          osdetect.Family
		target     string
		want       osdetect.PingResult
	}{
		{"linux-ping-reply.jsonl", osdetect.Linux, "192.0.2.13", osdetect.PingResult{OK: true, RTT: 50 * time.Microsecond}},
		{"linux-ping-noroute.jsonl", osdetect.Linux, "198.51.100.77", osdetect.PingResult{Error: "exit code 2: ping: connect: Network is unreachable"}},
		{"windows-ping.jsonl", osdetect.Windows, "192.0.2.1", osdetect.PingResult{OK: true, RTT: 12 * time.Millisecond}},
		{"windows-ping.jsonl", osdetect.Windows, "198.51.100.77", osdetect.PingResult{Error: "destination host unreachable (reported by 192.0.2.13)"}},
		{"windows-ping.jsonl", osdetect.Windows, "2001:db8::1", osdetect.PingResult{Error: "ping.exe ended with status 0xC000013A"}},
	}
	for _, tt := range tests {
		t.Run(tt.transcript+"/"+tt.target, func(t *testing.T) {
			c := guestagent.New(agenttest.Replay(t, qga+tt.transcript))
			target := netip.MustParseAddr(tt.target)
			cmd, err := osdetect.PingCommand(tt.f, target, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Run(context.Background(), cmd, 64<<10)
			if err != nil {
				t.Fatalf("Run(%+v): %v", cmd, err)
			}
			if got := osdetect.ParsePing(tt.f, target, st); got != tt.want {
				t.Errorf("ParsePing() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func checkResult(t *testing.T, r osdetect.PingResult) {
	t.Helper()
	if r.OK && r.Error != "" || !r.OK && r.Error == "" {
		t.Errorf("inconsistent result %+v", r)
	}
	if r.RTT < 0 || r.RTT > 3*time.Hour {
		t.Errorf("RTT %v out of range", r.RTT)
	}
	if !utf8.ValidString(r.Error) || utf8.RuneCountInString(r.Error) > 200 {
		t.Errorf("Error %q: invalid UTF-8 or too long", r.Error)
	}
	for _, c := range r.Error {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			t.Errorf("Error %q contains %U", r.Error, c)
		}
	}
}

// fuzzPing seeds a ParsePing fuzzer with the testdata/ping files of one
// family.
func fuzzPing(f *testing.F, fam osdetect.Family, prefix string) {
	paths, _ := filepath.Glob("../testdata/ping/" + prefix + "*.txt")
	for _, p := range paths {
		if strings.HasSuffix(p, ".stderr.txt") {
			continue
		}
		out, _ := os.ReadFile(p)
		errOut, _ := os.ReadFile(strings.TrimSuffix(p, ".txt") + ".stderr.txt")
		for _, code := range []int{0, 1, 2} {
			f.Add(out, errOut, code, false, "192.0.2.1")
		}
	}
	f.Fuzz(func(t *testing.T, out, errOut []byte, code int, signal bool, target string) {
		a, err := netip.ParseAddr(target)
		if err != nil {
			a = netip.MustParseAddr("192.0.2.1")
		}
		st := guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out, Stderr: errOut}
		if signal {
			st.ExitCode, st.Signal = nil, &code
		}
		r := osdetect.ParsePing(fam, a, st)
		checkResult(t, r)
		// Windows: a reply must name the target; Linux: only exit 0 is a reply.
		if r.OK && fam == osdetect.Windows && !bytes.Contains(out, []byte(a.Unmap().WithZone("").String())) {
			t.Errorf("OK without the target %s in %q", a, out)
		}
		if r.OK && fam == osdetect.Linux && (signal || code != 0) {
			t.Errorf("OK with exit code %d, signal %v", code, signal)
		}
	})
}

func FuzzParsePingLinux(f *testing.F)   { fuzzPing(f, osdetect.Linux, "linux-") }
func FuzzParsePingWindows(f *testing.F) { fuzzPing(f, osdetect.Windows, "windows-") }
