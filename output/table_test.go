package output

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// results are three domains as the table shows them: ok with both probe
// kinds, down without an external target (its assigned address missing,
// two diagnoses), and paused.
var results = []model.Result{
	{Name: "web-1", UUID: "u1", State: model.StateOK, OS: model.OSResult{Family: "linux", ID: "debian"},
		Agent: model.AgentResult{State: model.AgentOK},
		NICs: []model.NICResult{{MAC: "52:54:00:00:00:01", Device: "vnet0", SourceType: "bridge", Source: "br0",
			IPs: []string{"192.0.2.11", "fe80::1"}, Gateway: "192.0.2.1", GatewaySource: "guest-proc-route", NetworkType: "external"}},
		Probes: []model.ProbeResult{
			{Kind: model.ProbeExternal, Target: "203.0.113.10", Status: model.ProbePassed, RTT: 0.0007},
			{Kind: model.ProbeGateway, Target: "192.0.2.1", NIC: "52:54:00:00:00:01", Status: model.ProbePassed},
		}},
	{Name: "db-2", UUID: "u2", State: model.StateDown, OS: model.OSResult{Family: "windows", ID: "mswindows"},
		Agent: model.AgentResult{State: model.AgentOK}, Reason: "gateway 192.0.2.254: no reply",
		NICs: []model.NICResult{{MAC: "52:54:00:00:00:02", NetworkType: "internal"}},
		Probes: []model.ProbeResult{
			{Kind: model.ProbeExternal, Status: model.ProbeNotConfigured},
			{Kind: model.ProbeGateway, Target: "192.0.2.254", Status: model.ProbeFailed},
			{Kind: model.ProbeAddress, Target: "192.0.2.12", NIC: "52:54:00:00:00:02", Status: model.ProbeFailed},
		},
		Diagnosis: []model.Diagnosis{
			{Code: model.CodeGuestNoAddress, Layer: model.LayerGuest, NIC: "52:54:00:00:00:02",
				Detail: "eth0 has no IPv4 address, the platform assigned 192.0.2.12. Check the guest's DHCP client."},
			{Code: model.CodeGatewayUnresolved, Layer: model.LayerNetwork, NIC: "52:54:00:00:00:02", Detail: "no ARP entry for 192.0.2.254"},
		}},
	{Name: "idle", UUID: "u3", State: model.StatePaused, OS: model.OSResult{Family: "unknown"},
		Agent: model.AgentResult{State: model.AgentOK}, Reason: "paused"},
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name  string
		color bool
		want  string
	}{
		{"plain", false, `DOMAIN  STATE   AGENT  OS                 EXTERNAL               GATEWAYS            ADDRESSES           REASON
web-1   ok      ok     linux/debian       203.0.113.10 ok 0.7ms  192.0.2.1 ok        -                   -
db-2    down    ok     windows/mswindows  not configured         192.0.2.254 failed  192.0.2.12 missing  guest_no_address: eth0 has no IPv4 address, the platform assigned 192.0.2.12 (+1 more cause); gateway 192.0.2.254: no reply
idle    paused  ok     unknown            -                      -                   -                   paused
`},
		{"colour", true, "DOMAIN  STATE              AGENT  OS                 EXTERNAL               GATEWAYS            ADDRESSES           REASON\n" +
			"web-1   \x1b[32mok      \x1b[0m  ok     linux/debian       203.0.113.10 ok 0.7ms  192.0.2.1 ok        -                   -\n" +
			"db-2    \x1b[31mdown    \x1b[0m  ok     windows/mswindows  not configured         192.0.2.254 failed  192.0.2.12 missing  " +
			"guest_no_address: eth0 has no IPv4 address, the platform assigned 192.0.2.12 (+1 more cause); gateway 192.0.2.254: no reply\n" +
			"idle    \x1b[90mpaused  \x1b[0m  ok     unknown            -                      -                   -                   paused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, results, tt.color); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("WriteTable =\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestWriteDomainsTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDomainsTable(&b, results); err != nil {
		t.Fatal(err)
	}
	want := `DOMAIN  AGENT   OS                 MAC                DEVICE  SOURCE      IPS                 GATEWAY    GATEWAY SOURCE    TYPE
web-1   ok      linux/debian       52:54:00:00:00:01  vnet0   bridge:br0  192.0.2.11,fe80::1  192.0.2.1  guest-proc-route  external
db-2    ok      windows/mswindows  52:54:00:00:00:02  -       -           -                   -          -                 internal
idle    paused  unknown            -                  -       -           -                   -          -                 -
`
	if b.String() != want {
		t.Errorf("WriteDomainsTable =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name    string
		results []model.Result
		domains int
	}{
		{"none", nil, 0},
		{"three", results, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteJSON(&b, tt.results); err != nil {
				t.Fatal(err)
			}
			if tt.results == nil && !strings.Contains(b.String(), `"domains": []`) {
				t.Errorf("WriteJSON(nil) = %s, want an empty domains list", b.String())
			}
			var rep model.Report
			if err := json.Unmarshal(b.Bytes(), &rep); err != nil || len(rep.Domains) != tt.domains {
				t.Errorf("WriteJSON: %d domains (%v), want %d", len(rep.Domains), err, tt.domains)
			}
		})
	}
}

func TestLogFields(t *testing.T) {
	f := LogFields(results[1])
	ProbeFields(f, results[1].Probes)
	want := map[string]any{
		"domain": "db-2", "uuid": "u2", "state": "down", "agent": "ok", "os": "windows", "duration": 0.0,
		"reason": "gateway 192.0.2.254: no reply",
	}
	if len(f) != len(want)+2 {
		t.Errorf("LogFields+ProbeFields = %v, want %v, diagnosis and probes", f, want)
	}
	// The diagnoses are one field too, with the same keys for each.
	diag, _ := f["diagnosis"].([]LogDiagnosis)
	wantDiag := []LogDiagnosis{{"guest_no_address", "guest", "52:54:00:00:00:02"}, {"gateway_unresolved", "network", "52:54:00:00:00:02"}}
	if !slices.Equal(diag, wantDiag) {
		t.Errorf("diagnosis = %+v, want %+v", diag, wantDiag)
	}
	if d, ok := LogFields(results[0])["diagnosis"].([]LogDiagnosis); !ok || d == nil || len(d) != 0 {
		t.Errorf("diagnosis of a healthy VM = %#v, want an empty list", d)
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("field %s = %v, want %v", k, f[k], v)
		}
	}
	// The probes are one field, a list with the same keys for every probe.
	probes, _ := f["probes"].([]LogProbe)
	if len(probes) != 3 || probes[0].Kind != "external" || probes[0].Outcome != "not_configured" ||
		probes[1].Target != "192.0.2.254" || probes[1].Outcome != "failed" || probes[1].Status != "failed" ||
		probes[2].Kind != "address" || probes[2].Outcome != "missing" || probes[2].Status != "failed" {
		t.Errorf("probes = %+v", probes)
	}
	f = map[string]any{}
	ProbeFields(f, results[0].Probes)
	probes, _ = f["probes"].([]LogProbe)
	if len(probes) != 2 || probes[0].Target != "203.0.113.10" || probes[0].Outcome != "ok 0.7ms" ||
		probes[1].NIC != "52:54:00:00:00:01" || probes[1].Outcome != "ok" {
		t.Errorf("ProbeFields = %+v", probes)
	}
	if _, ok := LogFields(results[0])["reason"]; ok {
		t.Errorf("LogFields without a reason has a reason field")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		format      Format
		err         string
		check, doms string // how each report starts
	}{
		{Table, "", "DOMAIN  STATE", "DOMAIN  AGENT"},
		{JSON, "", "{\n  \"domains\"", "{\n  \"domains\""},
		{"xml", `"xml" is not table or json`, "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			if err := tt.format.Valid(); (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
				t.Fatalf("Format(%q).Valid() = %v, want %q", tt.format, err, tt.err)
			}
			if tt.err != "" {
				return
			}
			var c, d bytes.Buffer
			if err := tt.format.WriteCheck(&c, results, false); err != nil || !strings.HasPrefix(c.String(), tt.check) {
				t.Errorf("WriteCheck = %v, %.40q; want it to start with %q", err, c.String(), tt.check)
			}
			if err := tt.format.WriteDomains(&d, results); err != nil || !strings.HasPrefix(d.String(), tt.doms) {
				t.Errorf("WriteDomains = %v, %.40q; want it to start with %q", err, d.String(), tt.doms)
			}
		})
	}
}

// TestTableServices: the SERVICES column appears when a domain has probes
// of policy methods, each with what it measured.
func TestTableServices(t *testing.T) {
	loss := 0.35
	r := model.Result{Name: "web-1", State: model.StateDegraded, Agent: model.AgentResult{State: model.AgentOK},
		OS: model.OSResult{Family: "linux", ID: "debian"},
		Probes: []model.ProbeResult{
			{Kind: model.ProbeExternal, Method: "icmp", Target: "203.0.113.10", OK: true, Status: model.ProbeDegraded, RTT: 0.0195, Loss: &loss, Sent: 20},
			{Kind: model.ProbeService, Method: "mtu", Target: "203.0.113.10", Status: model.ProbeFailed, NICMTU: 1500, PathMTU: 1280},
			{Kind: model.ProbeService, Method: "http", Target: "http://203.0.113.10/", OK: true, Status: model.ProbePassed, RTT: 0.0031, HTTPStatus: 200},
			{Kind: model.ProbeService, Method: "dns", Target: "www.example.test", Status: model.ProbeUnavailable},
		}}
	var b strings.Builder
	if err := WriteTable(&b, []model.Result{r}, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SERVICES", "203.0.113.10 degraded 19.5ms 35% loss",
		"mtu 203.0.113.10 failed 1280 passed", "http http://203.0.113.10/ ok 200 3.1ms", "dns www.example.test unavailable"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
