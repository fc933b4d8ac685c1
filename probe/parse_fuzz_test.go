package probe

import (
	"net/netip"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// FuzzParsers feeds whatever a hostile guest may print to every parser of
// the methods: none may panic, believe a count or an MTU out of bounds,
// or keep more than maxAddrs addresses.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("5 packets transmitted, 5 received, 0% packet loss\nrtt min/avg/max/mdev = 0.033/0.035/0.041/0.003 ms\n"), []byte(""), 0)
	f.Add([]byte("Packets: Sent = 4, Received = 9, Lost = 0 (0% loss),\nMinimum = 0ms, Maximum = 99999999999ms, Average = 1ms"), []byte(""), 0)
	f.Add([]byte("127.0.0.1 STREAM localhost\n::1 RAW\n"), []byte(""), 0)
	f.Add([]byte("200 0.1 0.2"), []byte("curl: (7) x"), 7)
	f.Add([]byte("1500\n"), []byte("ping: local error: message too long, mtu=99999"), 1)
	f.Fuzz(func(t *testing.T, out, errOut []byte, code int) {
		st := guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out, Stderr: errOut}
		a := netip.MustParseAddr("203.0.113.1")
		for _, fam := range []osdetect.Family{osdetect.Linux, osdetect.Windows} {
			r := parseICMP(fam, a, st, Spec{Method: "icmp", Count: 5, MaxLoss: ratio(0.1), MaxRTT: 1, WarnAt: 0.8})
			if r.Measure.Sent > 2*MaxCount || r.Measure.Received > r.Measure.Sent || r.Measure.Received < 0 {
				t.Fatalf("parseICMP believed %d sent, %d received", r.Measure.Sent, r.Measure.Received)
			}
			if e := parseDF(fam, a, 1500, 3, st); e.signalled >= 1500 || e.recv > e.sent {
				t.Fatalf("parseDF believed a path MTU of %d", e.signalled)
			}
			if n, err := parseMTU(fam, "eth0", st); err == nil && (n < minMTU || n > maxMTU) {
				t.Fatalf("parseMTU believed %d", n)
			}
			if d := parseDNS(fam, Result{}, st); len(d.Measure.Addrs) > maxAddrs {
				t.Fatalf("parseDNS kept %d addresses", len(d.Measure.Addrs))
			}
		}
		if r, err := parseCurl(st); err == nil && (r.http < 0 || r.http > 999) {
			t.Fatalf("parseCurl believed status %d", r.http)
		}
	})
}
