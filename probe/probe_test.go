package probe

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
	"github.com/vmcheck/vmcheck/probe/probetest"
)

// capture loads a real capture of testdata/probe/linux.
func capture(t *testing.T, name string) guestagent.ExecStatus { return probetest.Linux(t, name) }

// windows loads a cited Windows transcript of testdata/probe, exit code
// as ping.exe gives it.
func windows(t *testing.T, name string, code int) guestagent.ExecStatus {
	t.Helper()
	out, err := os.ReadFile(filepath.Join("..", "testdata", "probe", name))
	if err != nil {
		t.Fatal(err)
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out}
}

func ratio(f float64) *float64 { return &f }

func TestICMPSummary(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	doc := netip.MustParseAddr("192.0.2.50")
	tests := []struct {
		name       string
		fam        osdetect.Family
		target     netip.Addr
		st         guestagent.ExecStatus
		spec       Spec
		status     Status
		cause      cause.Cause
		sent, recv int
		avg        time.Duration
	}{
		{"iputils five", osdetect.Linux, lo, capture(t, "iputils-count5"), Spec{Count: 5}, Passed, "", 5, 5, 35 * time.Microsecond},
		{"busybox three", osdetect.Linux, lo, capture(t, "busybox-count3"), Spec{Count: 3}, Passed, "", 3, 3, 61 * time.Microsecond},
		{"iputils half lost", osdetect.Linux, doc, capture(t, "iputils-count6-loss"), Spec{Count: 6, MaxLoss: ratio(0.2)}, Degraded, cause.PacketLoss, 6, 3, 51 * time.Microsecond},
		{"iputils half lost, loose threshold", osdetect.Linux, doc, capture(t, "iputils-count6-loss"), Spec{Count: 6, MaxLoss: ratio(0.6)}, Passed, "", 6, 3, 51 * time.Microsecond},
		{"iputils slow", osdetect.Linux, lo, capture(t, "iputils-count5"), Spec{Count: 5, MaxRTT: 20 * time.Microsecond}, Degraded, cause.HighLatency, 5, 5, 35 * time.Microsecond},
		{"iputils all lost", osdetect.Linux, doc, capture(t, "iputils-count3-alllost"), Spec{Count: 3, MaxLoss: ratio(0.2)}, Failed, "", 3, 0, 0},
		{"windows one lost", osdetect.Windows, lo, windows(t, "windows-ping-count-loss.txt", 0), Spec{Count: 10, MaxLoss: ratio(0.05)}, Degraded, cause.PacketLoss, 10, 9, 0},
		{"windows all ok", osdetect.Windows, netip.MustParseAddr("142.250.196.110"), windows(t, "windows-ping-count-ok.txt", 0), Spec{Count: 10}, Passed, "", 10, 10, 0},
		{"windows all lost", osdetect.Windows, doc, windows(t, "windows-ping-count-alllost.txt", 1), Spec{Count: 4}, Failed, "", 4, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Method = "icmp"
			if err := tt.spec.Validate(); err != nil {
				t.Fatal(err)
			}
			r := parseICMP(tt.fam, tt.target, tt.st, tt.spec)
			if r.Status != tt.status || r.Cause != tt.cause {
				t.Fatalf("status, cause = %s, %q (%s), want %s, %q", r.Status, r.Cause, r.Error, tt.status, tt.cause)
			}
			if r.Measure.Sent != tt.sent || r.Measure.Received != tt.recv {
				t.Errorf("sent, received = %d, %d, want %d, %d", r.Measure.Sent, r.Measure.Received, tt.sent, tt.recv)
			}
			if tt.avg != 0 && r.Measure.RTT != tt.avg {
				t.Errorf("avg rtt = %s, want %s", r.Measure.RTT, tt.avg)
			}
			if tt.cause != "" && !strings.Contains(r.Error, "over max_") {
				t.Errorf("error %q does not name the threshold crossed", r.Error)
			}
		})
	}
}

func TestICMPWarning(t *testing.T) {
	s := Spec{Method: "icmp", Count: 6, MaxLoss: ratio(0.6)} // 50 % is above 80 % of 60 %
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := parseICMP(osdetect.Linux, netip.MustParseAddr("192.0.2.50"), capture(t, "iputils-count6-loss"), s)
	if r.Status != Passed || !strings.HasPrefix(r.Detail, "warning: 50% loss") {
		t.Fatalf("status %s, detail %q: want passed with a warning", r.Status, r.Detail)
	}
}

func TestICMPCommand(t *testing.T) {
	a := netip.MustParseAddr("203.0.113.1")
	one, err := icmpCommand(osdetect.Linux, a, 2*time.Second, Default)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := osdetect.PingCommand(osdetect.Linux, a, 2*time.Second)
	if strings.Join(one.Args, " ") != strings.Join(want.Args, " ") {
		t.Errorf("default icmp argv %q, want today's ping %q", one.Args, want.Args)
	}
	five, _ := icmpCommand(osdetect.Linux, a, 2*time.Second, Spec{Method: "icmp", Count: 5})
	if got := strings.Join(five.Args, " "); got != "-c 5 -A -i 0.2 -W 2 203.0.113.1" {
		t.Errorf("count 5 argv %q", got)
	}
	win, _ := icmpCommand(osdetect.Windows, a, 2*time.Second, Spec{Method: "icmp", Count: 5})
	if got := strings.Join(win.Args, " "); got != "-n 5 -w 2000 203.0.113.1" {
		t.Errorf("windows count 5 argv %q", got)
	}
}

func TestParseDF(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name      string
		fam       osdetect.Family
		st        guestagent.ExecStatus
		status    Status
		signalled int
	}{
		{"local error names the MTU", osdetect.Linux, capture(t, "iputils-df-local-error"), Failed, 1280},
		{"passes", osdetect.Linux, capture(t, "iputils-df-ok"), Passed, 0},
		{"busybox cannot", osdetect.Linux, capture(t, "busybox-df-badoption"), Unavailable, 0},
		{"windows needs fragmenting (German)", osdetect.Windows, windows(t, "windows-de-ping-df-needs-fragment.txt", 1), Failed, 1},
		{"windows passes", osdetect.Windows, windows(t, "windows-ping-df-ok.txt", 0), Passed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := lo
			if tt.fam == osdetect.Windows && tt.status == Passed {
				target = netip.MustParseAddr("104.26.10.240")
			}
			e := parseDF(tt.fam, target, 1500, 1, tt.st)
			if e.status != tt.status || e.signalled != tt.signalled {
				t.Fatalf("parseDF = %s, signalled %d (%s), want %s, %d", e.status, e.signalled, e.text, tt.status, tt.signalled)
			}
		})
	}
}

func TestParseDNS(t *testing.T) {
	ok := parseDNS(osdetect.Linux, Result{Target: "localhost"}, capture(t, "getent-ahosts-ok"))
	if ok.Status != Passed || len(ok.Measure.Addrs) != 1 || ok.Measure.Addrs[0].String() != "127.0.0.1" {
		t.Fatalf("getent ok: %+v", ok)
	}
	bad := checkExpect(ok, Spec{Expect: netip.MustParseAddr("192.0.2.1")})
	if bad.Status != Failed || bad.Cause != cause.DNSFailure || !strings.Contains(bad.Error, "not the expected 192.0.2.1") {
		t.Errorf("expect mismatch: %+v", bad)
	}
	nx := parseDNS(osdetect.Linux, Result{Target: "www.example.test"}, capture(t, "getent-ahosts-notfound"))
	if nx.Status != Failed || nx.Cause != cause.DNSFailure {
		t.Errorf("getent exit 2: %+v", nx)
	}
}

func TestParseCurl(t *testing.T) {
	tests := []struct {
		name      string
		http      int
		connected bool
		code      int
	}{
		{"curl-200", 200, true, 0},
		{"curl-404", 404, true, 0},
		{"curl-refused", 0, false, curlConnect},
		{"curl-timeout", 0, false, curlTimeout},
		{"curl-resolve", 0, false, curlResolve},
	}
	for _, tt := range tests {
		r, err := parseCurl(capture(t, tt.name))
		if err != nil || r.http != tt.http || r.connected != tt.connected || r.code != tt.code {
			t.Errorf("parseCurl(%s) = %+v, %v; want http %d connected %v code %d", tt.name, r, err, tt.http, tt.connected, tt.code)
		}
	}
}

// fakeGuest answers each command by the first rule whose key its argv
// contains; rules are real captures.
func fakeGuest(t *testing.T, rules [][2]string) *Env {
	t.Helper()
	return &Env{Family: osdetect.Linux, Timeout: time.Second,
		Gateways: []Gateway{{Addr: netip.MustParseAddr("192.0.2.1"), Iface: "eth0"}},
		External: []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		Run: func(_ context.Context, cmd guestagent.Command, _ time.Duration) (guestagent.ExecStatus, error) {
			argv := cmd.Path + " " + strings.Join(cmd.Args, " ")
			for _, r := range rules {
				if strings.Contains(argv, r[0]) {
					if r[1] == "mtu1500" {
						c := 0
						return guestagent.ExecStatus{Exited: true, ExitCode: &c, Stdout: []byte("1500\n")}, nil
					}
					return capture(t, r[1]), nil
				}
			}
			t.Fatalf("unexpected guest command %q", argv)
			return guestagent.ExecStatus{}, nil
		}}
}

func TestTCPCauses(t *testing.T) {
	tests := []struct {
		name   string
		rules  [][2]string
		status Status
		cause  cause.Cause
	}{
		{"refused, host answers", [][2]string{{"curl", "curl-refused"}, {"ping", "iputils-count5"}}, Failed, cause.TCPRefused},
		{"filtered, host answers", [][2]string{{"curl", "curl-timeout"}, {"ping", "iputils-count5"}}, Failed, cause.TCPFiltered},
		{"host down", [][2]string{{"curl", "curl-timeout"}, {"ping", "iputils-count3-alllost"}}, Failed, ""},
		{"connected", [][2]string{{"curl", "curl-404"}}, Passed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Method: "tcp", Target: "203.0.113.10:80"}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			r := RunSpec(context.Background(), fakeGuest(t, tt.rules), s)[0]
			if r.Status != tt.status || r.Cause != tt.cause {
				t.Fatalf("tcp = %s, %q (%s), want %s, %q", r.Status, r.Cause, r.Error, tt.status, tt.cause)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	s := Spec{Method: "http", URL: "http://203.0.113.10/"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := RunSpec(context.Background(), fakeGuest(t, [][2]string{{"curl", "curl-404"}}), s)[0]
	if r.Status != Failed || r.Cause != cause.HTTPFailure || r.Measure.HTTPStatus != 404 {
		t.Fatalf("http 404 = %+v", r)
	}
	r = RunSpec(context.Background(), fakeGuest(t, [][2]string{{"curl", "curl-200"}}), s)[0]
	if r.Status != Passed || r.Measure.HTTPStatus != 200 {
		t.Fatalf("http 200 = %+v", r)
	}
}

func TestMTUBlackhole(t *testing.T) {
	env := fakeGuest(t, [][2]string{
		{"cat /sys/class/net/eth0/mtu", "mtu1500"},
		{"-s 1472 203.0.113.10", "iputils-count3-alllost"}, // full size, twice: silence
		{"-s 1472 192.0.2.1", "iputils-df-ok"},             // the gateway takes full size
		{"-s 1252 203.0.113.10", "iputils-df-ok"},          // 1280 passes
		{"-s ", "iputils-count3-alllost"},                  // 1400, 1442, 1450 do not
		{"-c 5 -A -i 0.2 -W 1 203.0.113.10", "iputils-count5"},
	})
	r := RunSpec(context.Background(), env, Spec{Method: "mtu"})
	if len(r) != 1 {
		t.Fatalf("%d results, want 1", len(r))
	}
	got := r[0]
	if got.Status != Failed || got.Cause != cause.PathMTUBlackhole || got.Measure.NICMTU != 1500 || got.Measure.PathMTU != 1280 {
		t.Fatalf("mtu = %+v", got)
	}
	if !strings.Contains(got.Detail, "beyond it") {
		t.Errorf("detail %q does not say the gateway passes full size", got.Detail)
	}
}

// TestMTULossIsNotABlackhole: a lossy path is not taken for a path-MTU
// blackhole: full-size echoes that pass when sent again, or plain echoes
// that lose half their replies, name no cause.
func TestMTULossIsNotABlackhole(t *testing.T) {
	lostOnce := 0
	env := fakeGuest(t, [][2]string{
		{"cat /sys/class/net/eth0/mtu", "mtu1500"},
		{"-c 5 -A -i 0.2 -W 1 203.0.113.10", "iputils-count5"},
		{"-s 1472 192.0.2.1", "iputils-df-ok"},
		{"-s ", "iputils-df-ok"},
	})
	run := env.Run
	env.Run = func(ctx context.Context, cmd guestagent.Command, wait time.Duration) (guestagent.ExecStatus, error) {
		if strings.Contains(strings.Join(cmd.Args, " "), "-c 3 -A -i 0.2 -W 1 -M do -s 1472 203.0.113.10") && lostOnce == 0 {
			lostOnce++
			return capture(t, "iputils-count3-alllost"), nil // the first full-size echoes are lost
		}
		return run(ctx, cmd, wait)
	}
	if got := RunSpec(context.Background(), env, Spec{Method: "mtu"})[0]; got.Status != Passed || got.Cause != "" || !strings.Contains(got.Detail, "loss on the path") {
		t.Errorf("full size lost once, then passing: %+v", got)
	}
	lossy := fakeGuest(t, [][2]string{
		{"cat /sys/class/net/eth0/mtu", "mtu1500"},
		{"-c 5 -A -i 0.2 -W 1 203.0.113.10", "iputils-count6-loss"}, // 3 of 6: half
		{"-M do", "iputils-count3-alllost"},
	})
	lossy.Run = func(ctx context.Context, cmd guestagent.Command, wait time.Duration) (guestagent.ExecStatus, error) {
		if strings.Contains(strings.Join(cmd.Args, " "), "-c 5") && !strings.Contains(strings.Join(cmd.Args, " "), "-M") {
			c := 0
			out := "5 packets transmitted, 2 received, 60% packet loss, time 800ms\n"
			return guestagent.ExecStatus{Exited: true, ExitCode: &c, Stdout: []byte(out)}, nil
		}
		return fakeGuest(t, [][2]string{{"cat", "mtu1500"}, {"-M do", "iputils-count3-alllost"}}).Run(ctx, cmd, wait)
	}
	if got := RunSpec(context.Background(), lossy, Spec{Method: "mtu"})[0]; got.Status != Error || got.Cause != "" || !strings.Contains(got.Error, "loses packets") {
		t.Errorf("plain echoes losing more than half: %+v", got)
	}
}

func TestMTUUnavailableOnBusybox(t *testing.T) {
	env := fakeGuest(t, [][2]string{{"cat", "mtu1500"}, {"-M do", "busybox-df-badoption"}})
	if r := RunSpec(context.Background(), env, Spec{Method: "mtu"})[0]; r.Status != Unavailable {
		t.Fatalf("busybox mtu = %+v, want unavailable", r)
	}
}

func TestMTULyingGuest(t *testing.T) {
	for _, out := range []string{"99999999\n", "-1\n", "1500 1500\n", strings.Repeat("9", 1<<16)} {
		c := 0
		st := guestagent.ExecStatus{Exited: true, ExitCode: &c, Stdout: []byte(out)}
		if _, err := parseMTU(osdetect.Linux, "eth0", st); err == nil {
			t.Errorf("parseMTU(%.20q) accepted", out)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	bad := []Spec{
		{Method: "icmp", Count: 21},
		{Method: "icmp", MaxLoss: ratio(1)},
		{Method: "dns"},
		{Method: "dns", Name: "-rf"},
		{Method: "dns", Name: "a..b"},
		{Method: "tcp", Target: "203.0.113.1"},
		{Method: "tcp", Target: "203.0.113.1:0"},
		{Method: "tcp", Target: "203.0.113.1:65536"},
		{Method: "tcp", Target: "-x:80"},
		{Method: "tcp", Target: "127.0.0.1:80"},
		{Method: "http", URL: "ftp://203.0.113.1/"},
		{Method: "http", URL: "http://user:pw@203.0.113.1/"},
		{Method: "http", URL: "http://203.0.113.1/ x"},
		{Method: "http", URL: "http://203.0.113.1/", Status: "600"},
		{Method: "ntp"},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", s)
		}
	}
}

// TestLossAtThreshold: a loss exactly at max_loss passes (with a
// warning): the ratio is compared in whole requests, never in floats
// (3 of 20 is 0.15000000000000002 as 1 - 17/20), and percentages print
// rounded.
func TestLossAtThreshold(t *testing.T) {
	for _, tt := range []struct {
		lost, sent int
		max        float64
		degraded   bool
	}{{3, 20, 0.15, false}, {6, 20, 0.3, false}, {4, 20, 0.2, false}, {11, 20, 0.5, true}, {7, 20, 0.3, true}} {
		c := 0
		out := strconv.Itoa(tt.sent) + " packets transmitted, " + strconv.Itoa(tt.sent-tt.lost) + " received\n"
		st := guestagent.ExecStatus{Exited: true, ExitCode: &c, Stdout: []byte(out)}
		s := Spec{Method: "icmp", Count: tt.sent, MaxLoss: ratio(tt.max)}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		r := parseICMP(osdetect.Linux, netip.MustParseAddr("203.0.113.10"), st, s)
		if (r.Status == Degraded) != tt.degraded {
			t.Errorf("%d of %d lost, max_loss %v: %s (%s)", tt.lost, tt.sent, tt.max, r.Status, r.Error)
		}
		if strings.Contains(r.Error+r.Detail, "0000") {
			t.Errorf("unrounded percentage: %q %q", r.Error, r.Detail)
		}
	}
}

// TestParseNslookup: nslookup.exe's answers. No real Windows transcript
// could be cited (testdata/probe/README.md, "Wanted but NOT found"), so
// these outputs are COMPOSED, not captured: the error texts Microsoft
// documents for nslookup ("Timed out", "No response from server",
// "Non-existent domain", spelt "Nonexistent domain" in the Windows 2000
// help) in the layout the README notes from transcripts seen but not
// citable (Server:/Address: header, "Name:", "Addresses:" with indented
// continuation lines).
func TestParseNslookup(t *testing.T) {
	tests := []struct {
		name, out string
		status    Status
		addrs     []string
		why       string
	}{
		{"answer", "Server:  dns.example.test\r\nAddress:  192.0.2.53\r\n\r\nNon-authoritative answer:\r\nName:    www.example.test\r\nAddresses:  2001:db8:ff::10\r\n          203.0.113.10\r\n\r\n", Passed, []string{"2001:db8:ff::10", "203.0.113.10"}, ""},
		{"one address", "Server:  UnKnown\r\nAddress:  192.0.2.53\r\n\r\nName:    www.example.test\r\nAddress:  203.0.113.10\r\n\r\n", Passed, []string{"203.0.113.10"}, ""},
		{"nxdomain", "Server:  UnKnown\r\nAddress:  192.0.2.53\r\n\r\n*** UnKnown can't find nope.example.test: Non-existent domain\r\n", Failed, nil, "does not exist"},
		{"nxdomain, older spelling", "*** dns.example.test can't find nope.example.test: Nonexistent domain\r\n", Failed, nil, "does not exist"},
		{"timeout", "DNS request timed out.\r\n    timeout was 2 seconds.\r\nServer:  UnKnown\r\nAddress:  192.0.2.53\r\n\r\n*** Request to UnKnown timed-out\r\n", Failed, nil, "no resolver answered"},
		{"no response", "*** Can't find server name for address 192.0.2.53: No response from server\r\n", Failed, nil, "no resolver answered"},
		{"garbage", "\x1b[31mhello\r\n", Error, nil, "named no address"},
	}
	for _, tt := range tests {
		c := 0
		r := parseDNS(osdetect.Windows, Result{Target: "www.example.test"}, guestagent.ExecStatus{Exited: true, ExitCode: &c, Stdout: []byte(tt.out)})
		var got []string
		for _, a := range r.Measure.Addrs {
			got = append(got, a.String())
		}
		if r.Status != tt.status || strings.Join(got, " ") != strings.Join(tt.addrs, " ") || !strings.Contains(r.Error, tt.why) {
			t.Errorf("%s: %s %v %q; want %s %v %q", tt.name, r.Status, got, r.Error, tt.status, tt.addrs, tt.why)
		}
		if tt.status == Failed && r.Cause != cause.DNSFailure {
			t.Errorf("%s: cause %q, want dns_failure", tt.name, r.Cause)
		}
	}
}
