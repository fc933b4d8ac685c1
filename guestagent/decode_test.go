package guestagent

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// recordedReturns returns the "return" values of every reply to command in
// the transcripts of testdata/qga, for fuzz seeds.
func recordedReturns(tb testing.TB, command string) []string {
	tb.Helper()
	paths, err := filepath.Glob("../testdata/qga/*.jsonl")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no transcripts: %v", err)
	}
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 32<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			var e struct {
				Request struct{ Execute string } `json:"request"`
				Reply   struct {
					Return json.RawMessage `json:"return"`
				} `json:"reply"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				tb.Fatalf("%s: %v", p, err)
			}
			if e.Request.Execute == command && e.Reply.Return != nil {
				out = append(out, string(e.Reply.Return))
			}
		}
		f.Close()
	}
	if len(out) == 0 {
		tb.Fatalf("no recorded reply to %s", command)
	}
	return out
}

func TestDecodeExecStatusErrors(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"bad out-data", `{"exited":true,"exitcode":0,"out-data":"!!"}`, "out-data is not valid base64"},
		{"bad err-data", `{"exited":true,"exitcode":0,"err-data":"QQ"}`, "err-data is not valid base64"},
		{"no exited", `{"exitcode":0}`, "no exited flag"},
		{"not an object", `[1]`, "malformed return value"},
		{"exitcode not a number", `{"exited":true,"exitcode":"0"}`, "malformed return value"},
		{"exitcode too large", `{"exited":true,"exitcode":1e30}`, "malformed return value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeExecStatus(json.RawMessage(tt.raw), 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeExecStatus(%s) error = %v, want it to contain %q", tt.raw, err, tt.want)
			}
		})
	}
}

func TestDecodeExecStatus(t *testing.T) {
	st, err := decodeExecStatus(json.RawMessage(`{"exitcode": 2, "err-data": "cGluZzogY29ubmVjdDogTmV0d29yayBpcyB1bnJlYWNoYWJsZQo=", "err-truncated": false, "exited": true}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exited || st.ExitCode == nil || *st.ExitCode != 2 || st.Signal != nil {
		t.Errorf("decodeExecStatus: got %+v, want exited with code 2", st)
	}
	if got, want := string(st.Stderr), "ping: connect: Network is unreachable\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	// Windows reports an NTSTATUS ≥ 0xC0000000 as signal.
	st, err = decodeExecStatus(json.RawMessage(`{"signal":3221225786,"exited":true}`), 0)
	if err != nil || st.Signal == nil || uint32(*st.Signal) != 0xC000013A {
		t.Errorf("decodeExecStatus(NTSTATUS) = %+v, %v; want signal 0xC000013A", st, err)
	}
	// Output of a process still running is ignored.
	st, err = decodeExecStatus(json.RawMessage(`{"exited":false,"out-data":"!!"}`), 0)
	if err != nil || st.Exited {
		t.Errorf("decodeExecStatus(running) = %+v, %v", st, err)
	}
}

func TestDecodeExec(t *testing.T) {
	tests := []struct {
		raw     string
		want    int64
		wantErr bool
	}{
		{`{"pid": 7056}`, 7056, false},
		{`{"pid": 0}`, 0, true},
		{`{"pid": -5}`, 0, true},
		{`{}`, 0, true},
		{`{"pid": "5"}`, 0, true},
	}
	for _, tt := range tests {
		got, err := decodeExec(json.RawMessage(tt.raw))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("decodeExec(%s) = %d, %v; want %d, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeInterfaces(t *testing.T) {
	raw := `[{"name":"Ethernet 2","hardware-address":"52:54:00:0C:00:13","ip-addresses":[
		{"ip-address-type":"ipv6","ip-address":"fe80::5054:ff:fe0c:13%6","prefix":64},
		{"ip-address-type":"ipv4","ip-address":"192.0.2.13","prefix":24},
		{"ip-address-type":"ipv4","ip-address":"192.0.2.14","prefix":33},
		{"ip-address-type":"ipv4","ip-address":"not-an-ip","prefix":24},
		{"ip-address-type":"ipv4","ip-address":"192.0.2.15"}]},
		{"name":"","hardware-address":"00:00:00:00:00:00"},
		{"name":"bad\u0000mac","hardware-address":"zz:zz"}]`
	ifs, err := decodeInterfaces(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 2 {
		t.Fatalf("decodeInterfaces: %d interfaces, want 2: %+v", len(ifs), ifs)
	}
	want := []netip.Prefix{netip.MustParsePrefix("fe80::5054:ff:fe0c:13/64"), netip.MustParsePrefix("192.0.2.13/24")}
	if ifs[0].Name != "Ethernet 2" || ifs[0].MAC != "52:54:00:0c:00:13" || len(ifs[0].Addrs) != 2 ||
		ifs[0].Addrs[0] != want[0] || ifs[0].Addrs[1] != want[1] {
		t.Errorf("decodeInterfaces: got %+v, want Ethernet 2, 52:54:00:0c:00:13, %v", ifs[0], want)
	}
	if ifs[1].Name != "bad mac" || ifs[1].MAC != "" {
		t.Errorf("decodeInterfaces: got %+v, want name %q without MAC", ifs[1], "bad mac")
	}
}

func TestDecodeRoutesErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"bad mask", `[{"iface":"eth0","destination":"10.0.0.0","gateway":"0.0.0.0","mask":"255.0.255.0","metric":0,"version":4}]`, "not contiguous"},
		{"bad version", `[{"iface":"eth0","destination":"10.0.0.0","metric":0,"version":5}]`, "unknown version"},
		{"family mismatch", `[{"iface":"eth0","destination":"::","desprefixlen":"0","nexthop":"192.0.2.1","metric":0,"version":6}]`, "gateway"},
		{"bad prefix", `[{"iface":"eth0","destination":"::","desprefixlen":"129","nexthop":"::","metric":0,"version":6}]`, "desprefixlen"},
		{"bad destination", `[{"iface":"eth0","destination":"x","metric":0,"version":4}]`, "destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRoutes(json.RawMessage(tt.raw))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeRoutes(%s) error = %v, want it to contain %q", tt.raw, err, tt.want)
			}
		})
	}
}

func TestDecodeFileRead(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		asked   int
		want    string
		eof     bool
		wantErr bool
	}{
		{"data", `{"count":3,"buf-b64":"YWJj","eof":false}`, 10, "abc", false, false},
		{"eof", `{"count":0,"buf-b64":"","eof":true}`, 10, "", true, false},
		{"count mismatch", `{"count":5,"buf-b64":"YWJj","eof":false}`, 10, "", false, true},
		{"more than asked", `{"count":3,"buf-b64":"YWJj","eof":false}`, 2, "", false, true},
		{"bad base64", `{"count":3,"buf-b64":"Y*Jj","eof":false}`, 10, "", false, true},
		{"missing buf", `{"count":3,"eof":false}`, 10, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, eof, err := decodeFileRead(json.RawMessage(tt.raw), tt.asked)
			if (err != nil) != tt.wantErr || string(got) != tt.want || eof != tt.eof {
				t.Errorf("decodeFileRead(%s, %d) = %q, %v, %v; want %q, %v, error %v", tt.raw, tt.asked, got, eof, err, tt.want, tt.eof, tt.wantErr)
			}
		})
	}
}

var macRE = regexp.MustCompile(`^([0-9a-f]{2}:)*[0-9a-f]{2}$`)

func FuzzDecodeExecStatus(f *testing.F) {
	for _, s := range recordedReturns(f, "guest-exec-status") {
		f.Add(s)
	}
	f.Add(`{"exited":true,"signal":3221225786}`)
	f.Fuzz(func(t *testing.T, raw string) {
		st, err := decodeExecStatus(json.RawMessage(raw), 16)
		if err != nil {
			return
		}
		if !st.Exited && (st.ExitCode != nil || st.Signal != nil || st.Stdout != nil || st.Stderr != nil) {
			t.Errorf("running process with results: %+v", st)
		}
		if len(st.Stdout) > 16 || len(st.Stderr) > 16 {
			t.Errorf("decodeExecStatus kept %d/%d bytes, limit 16", len(st.Stdout), len(st.Stderr))
		}
	})
}

func FuzzDecodeInfo(f *testing.F) {
	for _, s := range recordedReturns(f, "guest-info") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		info, err := decodeInfo(json.RawMessage(raw))
		if err != nil {
			return
		}
		checkSanitized(t, "Version", info.Version, maxFieldRunes)
		if len(info.Commands) > maxCommands {
			t.Errorf("%d commands", len(info.Commands))
		}
		for name := range info.Commands {
			checkSanitized(t, "command name", name, maxNameRunes)
		}
	})
}

func FuzzDecodeOSInfo(f *testing.F) {
	for _, s := range recordedReturns(f, "guest-get-osinfo") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		oi, err := decodeOSInfo(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, s := range []string{oi.ID, oi.Name, oi.PrettyName, oi.Version, oi.VersionID,
			oi.KernelRelease, oi.KernelVersion, oi.Machine, oi.Variant, oi.VariantID} {
			checkSanitized(t, "osinfo field", s, maxFieldRunes)
		}
	})
}

func FuzzDecodeInterfaces(f *testing.F) {
	for _, s := range recordedReturns(f, "guest-network-get-interfaces") {
		f.Add(s)
	}
	f.Add(`[{"name":"Ethernet","hardware-address":"52-54-00-0C-00-13","ip-addresses":[{"ip-address":"fe80::1%12","prefix":64}]}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		ifs, err := decodeInterfaces(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, ifc := range ifs {
			checkSanitized(t, "interface name", ifc.Name, maxNameRunes)
			if ifc.Name == "" {
				t.Errorf("interface without name")
			}
			if ifc.MAC != "" && !macRE.MatchString(ifc.MAC.String()) {
				t.Errorf("MAC %q not canonical", ifc.MAC)
			}
			if len(ifc.Addrs) > maxAddrs {
				t.Errorf("%d addresses", len(ifc.Addrs))
			}
			for _, p := range ifc.Addrs {
				if !p.IsValid() || p.Addr().Zone() != "" {
					t.Errorf("bad prefix %v", p)
				}
			}
		}
	})
}

func FuzzDecodeRoutes(f *testing.F) {
	for _, s := range recordedReturns(f, "guest-network-get-route") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		routes, err := decodeRoutes(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, r := range routes {
			checkSanitized(t, "route interface", r.Interface, maxNameRunes)
			if !r.Destination.IsValid() || r.Destination != r.Destination.Masked() {
				t.Errorf("destination %v not a masked prefix", r.Destination)
			}
			if r.Gateway.IsValid() && (r.Gateway.BitLen() != r.Destination.Addr().BitLen() || r.Gateway.IsUnspecified()) {
				t.Errorf("gateway %v for destination %v", r.Gateway, r.Destination)
			}
			if r.Metric < 0 {
				t.Errorf("negative metric %d", r.Metric)
			}
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add(`{"return": {}}`)
	f.Add(`{"error": {"class": "GenericError", "desc": "Guest agent command failed, error was 'Failed to execute child process \u201Ccmd.exe\u201D (No such file or directory)'"}}`)
	f.Add(`{"error": {"class": "CommandNotFound", "desc": "Command guest-exec has been disabled"}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := decodeReply("guest-exec", []byte(raw))
		if ae, ok := err.(*Error); ok {
			checkSanitized(t, "Desc", ae.Desc, MaxDescRunes)
			checkSanitized(t, "Class", ae.Class, 64)
		}
	})
}
