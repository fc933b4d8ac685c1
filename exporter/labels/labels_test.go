package labels

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

func TestGuestLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"debian", "debian"},
		{"10.0.20348", "10.0.20348"},
		{"22.04.3 LTS (Jammy)", "22.04.3_LTS__Jammy_"},
		{"ubuntu\"} 1\nfake{a=\"b", "ubuntu___1_fake_a__b"},
		{"x\u202eevil\u0000", "x_evil"},
		{string([]byte{0xff, 'a'}), "_a"},
		{"é", "_"},
		{"a\nb", "a_b"},
		{string(make([]byte, 200)), ""},
	}
	for _, tt := range tests {
		if got := Guest(tt.in); got != tt.want {
			t.Errorf("Guest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := Guest(strings.Repeat("a", 100))
	if n := len([]rune(long)); n > MaxRunes {
		t.Errorf("Guest of 100 runes has %d runes, want at most %d", n, MaxRunes)
	}
}

func TestHostLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-01 (shop)", "web-01 (shop)"},
		{"café", "café"},
		{"a\x1bb", "a b"},
		{"a\u202eb", "a b"},
		{string([]byte{0xff}), "\ufffd"},
	}
	for _, tt := range tests {
		if got := Host(tt.in, 64); got != tt.want {
			t.Errorf("Host(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAddrMACUUIDLabels(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "2001:DB8::1": "2001:db8::1", "fe80::1%eth0": "fe80::1",
		"::ffff:192.0.2.1": "::ffff:192.0.2.1", "192.0.2.1 ": "", "host": "", "": "",
	} {
		if got := Addr(in); got != want {
			t.Errorf("Addr(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"52:54:00:AA:00:01": "52:54:00:aa:00:01", "52-54-00-aa-00-01": "52:54:00:aa:00:01",
		"not-a-mac": "", "": "", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01": "",
	} {
		if got := MAC(in); got != want {
			t.Errorf("MAC(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"0B4EC1C4-5D3A-4C5E-9B1E-2F4A6C8E0A05": "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a05",
		"0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a0":  "",
		"0b4ec1c4x5d3a-4c5e-9b1e-2f4a6c8e0a05": "",
		"zb4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a05": "",
	} {
		if got := UUID(in); got != want {
			t.Errorf("UUID(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Enum("gateway", "external", "gateway"); got != "gateway" {
		t.Errorf("Enum = %q", got)
	}
	if got := Enum("weird", "external", "gateway"); got != "other" {
		t.Errorf("Enum = %q, want other", got)
	}
}

// TestHostLabelInvisible: Unicode format characters (Cf) never reach a
// label, as they never reach the status page or a log.
func TestHostLabelInvisible(t *testing.T) {
	for _, in := range []string{"web\u200b1", "web\u061c1", "web\u00ad1", "\ufeffweb1", "web\u20601", "web\U000e0041 1", "web\u202e1"} {
		got := Host(in, MaxRunes)
		for _, r := range got {
			if unicode.Is(unicode.Cf, r) {
				t.Errorf("Host(%q) = %q: keeps the format character %U", in, got, r)
			}
		}
		if got != guestagent.Sanitize(in, MaxRunes) {
			t.Errorf("Host(%q) = %q, Sanitize says %q: two sanitisers", in, got, guestagent.Sanitize(in, MaxRunes))
		}
	}
	for _, in := range []string{"web-01", "Ünïcode name", "a b"} {
		if got := Host(in, MaxRunes); got != in {
			t.Errorf("Host(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestProbeLabelCaps(t *testing.T) {
	// gws returns n gateway probes, one per NIC, NIC i's gateway being
	// 10.net.i/256.i%256.
	gws := func(n, net int) []model.ProbeResult {
		var out []model.ProbeResult
		for i := range n {
			out = append(out, model.ProbeResult{Kind: model.ProbeGateway, Target: fmt.Sprintf("10.%d.%d.%d", net, i>>8, i&255),
				NIC: guestagent.MAC(fmt.Sprintf("52:54:00:00:%02x:%02x", byte(i>>8), byte(i))), Status: model.ProbePassed, RTT: 0.001})
		}
		return out
	}
	exts := func(n int) []model.ProbeResult {
		var out []model.ProbeResult
		for i := range n {
			out = append(out, model.ProbeResult{Kind: model.ProbeExternal, Target: fmt.Sprintf("203.0.113.%d", i), Status: model.ProbeFailed})
		}
		return out
	}
	addrs := func(n, net int) []model.ProbeResult {
		out := gws(n, net)
		for i := range out {
			out[i].Kind, out[i].RTT = model.ProbeAddress, 0
		}
		return out
	}
	tests := []struct {
		name          string
		rounds        [][]model.ProbeResult
		wantSeries    int // probe series of the last round
		wantOmitted   int
		wantPlacehold int // of which target="other"
	}{
		{"1000 NICs", [][]model.ProbeResult{gws(1000, 1)}, MaxGatewayProbes, 1000 - MaxGatewayProbes, 0},
		{"100 external targets", [][]model.ProbeResult{exts(100)}, MaxExternalProbes, 100 - MaxExternalProbes, 0},
		{"100 assigned addresses", [][]model.ProbeResult{addrs(100, 1)}, MaxAddressProbes, 100 - MaxAddressProbes, 0},
		{"new addresses beyond the budget merge into one placeholder", [][]model.ProbeResult{
			addrs(MaxAddressProbes, 1), addrs(MaxAddressProbes, 2), addrs(MaxAddressProbes, 3),
		}, 1, MaxAddressProbes - 1, 1},
		{"a kind outside the set gets no series", [][]model.ProbeResult{{
			{Kind: "dns", Target: "192.0.2.53", Status: model.ProbeFailed},
		}}, 0, 0, 0},
		{"an exact duplicate is not an omission", [][]model.ProbeResult{append(exts(1), exts(1)...)}, 1, 0, 0},
		{"errors and not-configured get no series", [][]model.ProbeResult{{
			{Kind: model.ProbeExternal, Target: "203.0.113.1", Status: model.ProbeError},
			{Kind: model.ProbeExternal, Status: model.ProbeNotConfigured},
			{Kind: model.ProbeGateway, Target: "not-an-ip", Status: model.ProbeFailed},
		}}, 0, 0, 0},
		{"known gateways keep their labels once the budget is spent", [][]model.ProbeResult{
			gws(MaxGatewayProbes, 1), gws(MaxGatewayProbes, 2), gws(MaxGatewayProbes, 1),
		}, MaxGatewayProbes, 0, 0},
		{"new gateways beyond the budget merge into one placeholder", [][]model.ProbeResult{
			gws(MaxGatewayProbes, 1), gws(MaxGatewayProbes, 2), gws(MaxGatewayProbes, 3),
		}, 1, MaxGatewayProbes - 1, 1},
		{"known and new after the budget", [][]model.ProbeResult{
			gws(MaxGatewayProbes, 1), gws(MaxGatewayProbes, 2), append(gws(4, 1), gws(MaxGatewayProbes, 3)[4:6]...),
		}, 4 + 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Budget{}
			var got []ProbeSeries
			var omitted int
			for _, probes := range tt.rounds {
				got, omitted = b.probeLabels(typed(probes))
			}
			others := 0
			for _, p := range got {
				if p.Target == Placeholder {
					others++
				}
			}
			if len(got) != tt.wantSeries || omitted != tt.wantOmitted || others != tt.wantPlacehold {
				t.Errorf("last round: %d series (%d placeholders), %d omitted; want %d (%d), %d",
					len(got), others, omitted, tt.wantSeries, tt.wantPlacehold, tt.wantOmitted)
			}
			if n := len(b[groupGateway]); n > MaxGatewaySets {
				t.Errorf("budget holds %d gateway sets, want at most %d", n, MaxGatewaySets)
			}
			if n := len(b[groupAddress]); n > MaxAddressSets {
				t.Errorf("budget holds %d address sets, want at most %d", n, MaxAddressSets)
			}
		})
	}
}

func TestDiagnosisLabels(t *testing.T) {
	mac := func(i int) string { return fmt.Sprintf("52:54:00:00:%02x:%02x", byte(i>>8), byte(i)) }
	linkDown := func(from, n int) []model.Diagnosis {
		var out []model.Diagnosis
		for i := from; i < from+n; i++ {
			out = append(out, model.Diagnosis{Code: model.CodeHostLinkDown, Layer: model.LayerHost, NIC: guestagent.MAC(mac(i))})
		}
		return out
	}
	tests := []struct {
		name   string
		rounds [][]model.Diagnosis
		want   []DiagnosisSeries // of the last round
	}{
		{"healthy", [][]model.Diagnosis{nil}, nil},
		{"codes and layers of the closed set only", [][]model.Diagnosis{{
			{Code: "made_up", Layer: model.LayerHost, NIC: guestagent.MAC(mac(1))},
			{Code: model.CodeGuestNoAddress, Layer: model.LayerHost, NIC: "52:54:00:00:00:01"},
			{Code: model.CodeUpstreamUnreachable, Layer: "evil"},
		}}, []DiagnosisSeries{{"guest_no_address", "guest", mac(1)}, {"upstream_unreachable", "network", ""}}},
		{"a NIC that is not a MAC", [][]model.Diagnosis{{{Code: model.CodeGuestNICMissing, NIC: "<b>"}}},
			[]DiagnosisSeries{{"guest_nic_missing", "guest", Placeholder}}},
		{"canonical MAC, duplicates once", [][]model.Diagnosis{{
			{Code: model.CodeGuestLinkDown, NIC: "52:54:00:00:00:0A"}, {Code: model.CodeGuestLinkDown, NIC: guestagent.MAC(mac(10))},
		}}, []DiagnosisSeries{{"guest_link_down", "guest", mac(10)}}},
		{"at most maxDiagnoses a check", [][]model.Diagnosis{linkDown(0, 100)}, nil},
		{"new NICs beyond the budget share the placeholder", [][]model.Diagnosis{
			linkDown(0, MaxDiagnosisNICs), linkDown(MaxDiagnosisNICs, 3),
		}, []DiagnosisSeries{{"host_link_down", "host", Placeholder}}},
		{"known NICs keep their label once the budget is spent", [][]model.Diagnosis{
			linkDown(0, MaxDiagnosisNICs), linkDown(MaxDiagnosisNICs, 3), linkDown(5, 1),
		}, []DiagnosisSeries{{"host_link_down", "host", mac(5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Budget{}
			var got []DiagnosisSeries
			for _, ds := range tt.rounds {
				got = b.diagnosisLabels(ds)
			}
			if tt.name == "at most maxDiagnoses a check" {
				if len(got) != MaxDiagnoses {
					t.Errorf("diagnosisLabels(100 NICs) = %d series, want %d", len(got), MaxDiagnoses)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("diagnosisLabels = %v, want %v", got, tt.want)
			}
			if n := len(b[groupDiagnosis]); n > MaxDiagnosisNICs {
				t.Errorf("budget holds %d NICs, want at most %d", n, MaxDiagnosisNICs)
			}
		})
	}
}

func TestBudgetFromSets(t *testing.T) {
	tooMany := make([][]string, MaxInfoSets+1)
	for i := range tooMany {
		tooMany[i] = []string{"linux", "debian", strconv.Itoa(i), "", ""}
	}
	tests := []struct {
		name  string
		sets  map[string][][]string
		valid bool
	}{
		{"none", nil, true},
		{"what Record saves", map[string][][]string{
			groupInfo:      {{"linux", "debian", "12", "web-01 (shop)", "shop"}},
			groupGateway:   {{"192.0.2.1", "52:54:00:aa:00:01"}, {"2001:db8::1", ""}},
			groupAddress:   {{"192.0.2.11", "52:54:00:aa:00:01"}},
			groupDiagnosis: {{"52:54:00:aa:00:01"}},
		}, true},
		{"address not an address", map[string][][]string{groupAddress: {{"x", "52:54:00:aa:00:01"}}}, false},
		{"diagnosis nic empty", map[string][][]string{groupDiagnosis: {{""}}}, false},
		{"diagnosis nic not canonical", map[string][][]string{groupDiagnosis: {{"52:54:00:AA:00:01"}}}, false},
		{"unknown group", map[string][][]string{"hostname": {{"x"}}}, false},
		{"wrong size", map[string][][]string{groupGateway: {{"192.0.2.1"}}}, false},
		{"unsanitised os_id", map[string][][]string{groupInfo: {{"linux", "deb ian", "12", "", ""}}}, false},
		{"unknown family", map[string][][]string{groupInfo: {{"plan9", "x", "1", "", ""}}}, false},
		{"target not canonical", map[string][][]string{groupGateway: {{"192.000.2.1", ""}}}, false},
		{"nic not canonical", map[string][][]string{groupGateway: {{"192.0.2.1", "52-54-00-AA-00-01"}}}, false},
		{"over budget", map[string][][]string{groupInfo: tooMany}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := BudgetFromSets(tt.sets)
			if (err == nil) != tt.valid {
				t.Fatalf("BudgetFromSets(%v) error = %v, want valid %t", tt.sets, err, tt.valid)
			}
			if err == nil && !reflect.DeepEqual(b.Sets(), tt.sets) {
				t.Errorf("round trip: %v, want %v", b.Sets(), tt.sets)
			}
		})
	}
}

func TestSaturatingInc(t *testing.T) {
	tests := []struct {
		name      string
		got, want uint64
	}{
		{"int 0", uint64(saturatingInc(0)), 1},
		{"int MaxInt-1", uint64(saturatingInc(math.MaxInt - 1)), math.MaxInt},
		{"int MaxInt", uint64(saturatingInc(math.MaxInt)), math.MaxInt},
		{"int64 MaxInt64", uint64(saturatingInc(int64(math.MaxInt64))), math.MaxInt64},
		{"uint MaxUint", uint64(saturatingInc(uint(math.MaxUint))), math.MaxUint},
		{"uint64 MaxUint64", saturatingInc(uint64(math.MaxUint64)), math.MaxUint64},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: saturatingInc = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// TestServiceProbeLabels: probes of policy methods get series labelled by
// method and the operator's target, with their loss and path MTU; a
// method outside the table is "other", and a tool the guest lacks
// (unavailable) gets no series.
func TestServiceProbeLabels(t *testing.T) {
	loss := 0.35
	probes := []model.ProbeResult{
		{Kind: model.ProbeExternal, Method: "icmp", Target: "203.0.113.10", OK: true, Status: model.ProbeDegraded, RTT: 0.02, Loss: &loss, Sent: 20, Received: 13},
		{Kind: model.ProbeService, Method: "mtu", Target: "203.0.113.10", Status: model.ProbeFailed, NICMTU: 1500, PathMTU: 1280},
		{Kind: model.ProbeService, Method: "http", Target: "http://203.0.113.10/", OK: true, Status: model.ProbePassed, RTT: 0.3, HTTPStatus: 200},
		{Kind: model.ProbeService, Method: "dns", Target: "www.example.test", Status: model.ProbeUnavailable, Error: "getent not found in the guest"},
		{Kind: model.ProbeService, Method: "bogus", Target: "x", OK: true, Status: model.ProbePassed},
	}
	got, omitted := Budget{}.probeLabels(typed(probes))
	if omitted != 0 || len(got) != 4 {
		t.Fatalf("probeLabels = %+v, %d omitted; want 4 series", got, omitted)
	}
	want := []struct {
		kind, method, target string
		passed               bool
	}{
		{"external", "icmp", "203.0.113.10", true},
		{"service", "mtu", "203.0.113.10", false},
		{"service", "http", "http://203.0.113.10/", true},
		{"service", "other", "x", true},
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Method != w.method || g.Target != w.target || g.Passed != w.passed {
			t.Errorf("series %d = %+v, want %+v", i, g, w)
		}
	}
	if got[0].Loss == nil || *got[0].Loss != 0.35 || got[1].PathMTU != 1280 {
		t.Errorf("loss %v, path MTU %d: want 0.35 and 1280", got[0].Loss, got[1].PathMTU)
	}
}

// typed sets the Addr of the probes whose kind has an address target from
// their Target, as the engine does.
func typed(probes []model.ProbeResult) []model.ProbeResult {
	out := slices.Clone(probes)
	for i, p := range out {
		if _, ok := probeKinds[p.Kind]; ok && p.Kind != model.ProbeService {
			out[i].Addr, _ = netip.ParseAddr(p.Target)
		}
	}
	return out
}
