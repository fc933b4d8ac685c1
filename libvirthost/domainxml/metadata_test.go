package domainxml

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseDomainXMLMetadata(t *testing.T) {
	f := false
	tests := []struct {
		file       string
		wantPolicy policy.Policy
		wantNova   model.Nova
	}{
		{"virsh-set.xml", policy.Policy{Enabled: &f, Interval: 90 * time.Second, Targets: addrs("203.0.113.20", "2001:db8::20")}, model.Nova{}},
		{"nova.xml", policy.Policy{Interval: 2 * time.Minute, Targets: addrs("198.51.100.7")}, model.Nova{Instance: "web-01 (shop)", Project: "shop"}},
		{"virsh-set-nic.xml", policy.Policy{Interval: time.Minute}, model.Nova{}},
		{"virsh-set-alert.xml", policy.Policy{Interval: time.Minute,
			Alert: policy.Alert{Notify: "both", Severity: "critical", Receiver: "acme-oncall", Tenant: "acme"}}, model.Nova{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := ParseDomainXML(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParseDomainXML: %v", err)
			}
			if !reflect.DeepEqual(d.Policy, tt.wantPolicy) {
				t.Errorf("Policy = %+v, want %+v", d.Policy, tt.wantPolicy)
			}
			if d.Nova != tt.wantNova {
				t.Errorf("Nova = %+v, want %+v", d.Nova, tt.wantNova)
			}
			if len(d.NICs) != 1 {
				t.Errorf("NICs = %d, want 1 (metadata must not disturb the rest)", len(d.NICs))
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	tr := true
	const ns = `xmlns:vmcheck="https://vmcheck.dev/xmlns/1"`
	tests := []struct {
		name      string
		xml       string
		want      policy.Policy
		wantError string
	}{
		{"empty", ``, policy.Policy{}, ""},
		{"other namespaces only", `<app:x xmlns:app="http://example.com/app"><app:y>1</app:y></app:x>`, policy.Policy{}, ""},
		{"enabled", `<vmcheck:check ` + ns + ` enabled="true"/>`, policy.Policy{Enabled: &tr}, ""},
		{"children without namespace", `<vmcheck:check ` + ns + `><target>192.0.2.7</target></vmcheck:check>`, policy.Policy{Targets: addrs("192.0.2.7")}, ""},
		{"default namespace", `<check xmlns="https://vmcheck.dev/xmlns/1" interval="10s"><target> 192.0.2.8 </target></check>`,
			policy.Policy{Interval: 10 * time.Second, Targets: addrs("192.0.2.8")}, ""},
		{"wrong namespace ignored", `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/2" enabled="false"/>`, policy.Policy{}, ""},
		{"bad enabled", `<vmcheck:check ` + ns + ` enabled="nope"/>`, policy.Policy{}, "enabled"},
		{"bad interval", `<vmcheck:check ` + ns + ` interval="often"/>`, policy.Policy{}, "interval"},
		{"interval too short", `<vmcheck:check ` + ns + ` interval="1s"/>`, policy.Policy{}, "interval"},
		{"retry interval", `<vmcheck:check ` + ns + ` retry_interval="5s"/>`, policy.Policy{RetryInterval: 5 * time.Second}, ""},
		{"retry interval with interval", `<vmcheck:check ` + ns + ` enabled="true" interval="2m" retry_interval="15s"/>`,
			policy.Policy{Enabled: &tr, Interval: 2 * time.Minute, RetryInterval: 15 * time.Second}, ""},
		{"bad retry interval", `<vmcheck:check ` + ns + ` retry_interval="often"/>`, policy.Policy{}, `vmcheck metadata ignored: retry_interval: time: invalid duration "often"`},
		{"retry interval too short", `<vmcheck:check ` + ns + ` retry_interval="1s"/>`, policy.Policy{}, "vmcheck metadata ignored: retry_interval: 1s is not between 5s and 24h0m0s"},
		{"retry interval too long", `<vmcheck:check ` + ns + ` retry_interval="48h"/>`, policy.Policy{}, "retry_interval: 48h0m0s is not between"},
		{"bad retry interval drops the rest", `<vmcheck:check ` + ns + ` enabled="true" interval="1m" retry_interval="0.5s"><target>192.0.2.7</target></vmcheck:check>`,
			policy.Policy{}, "retry_interval: 500ms is not between"},
		{"bad target", `<vmcheck:check ` + ns + `><vmcheck:target>gw.example.com</vmcheck:target></vmcheck:check>`, policy.Policy{}, "not an IP address"},
		{"multicast target", `<vmcheck:check ` + ns + `><vmcheck:target>224.0.0.1</vmcheck:target></vmcheck:check>`, policy.Policy{}, "multicast"},
		{"too many targets", `<vmcheck:check ` + ns + `>` + strings.Repeat(`<vmcheck:target>192.0.2.1</vmcheck:target>`, 9) + `</vmcheck:check>`, policy.Policy{}, "at most"},
		{"not well formed", `<vmcheck:check ` + ns + `>`, policy.Policy{}, "XML"},
		{"nic without mac", `<vmcheck:check ` + ns + ` enabled="true"><nic address="192.0.2.7"/></vmcheck:check>`, policy.Policy{}, "nic[0]: mac"},
		{"nic bad address", `<vmcheck:check ` + ns + ` enabled="true"><nic mac="52:54:00:0c:00:11" address="192.0.2.300"/></vmcheck:check>`, policy.Policy{}, "not an IP address"},
		{"nic loopback gateway", `<vmcheck:check ` + ns + `><nic mac="52:54:00:0c:00:11" gateway="127.0.0.1"/></vmcheck:check>`, policy.Policy{}, "loopback"},
		{"nic with nothing", `<vmcheck:check ` + ns + `><nic mac="52:54:00:0c:00:11"/></vmcheck:check>`, policy.Policy{}, "neither address nor gateway"},
		{"alert", `<vmcheck:check ` + ns + `><alert notify="tenant" severity="info" receiver="t1.hooks" tenant="acme_2"/></vmcheck:check>`,
			policy.Policy{Alert: policy.Alert{Notify: "tenant", Severity: "info", Receiver: "t1.hooks", Tenant: "acme_2"}}, ""},
		{"alert notify only", `<vmcheck:check ` + ns + `><vmcheck:alert notify="none"/></vmcheck:check>`,
			policy.Policy{Alert: policy.Alert{Notify: "none"}}, ""},
		{"alert bad notify", `<vmcheck:check ` + ns + ` interval="1m"><alert notify="everyone"/></vmcheck:check>`, policy.Policy{}, `vmcheck metadata ignored: alert.notify: "everyone" is not one of [operator tenant both none]`},
		{"alert bad severity", `<vmcheck:check ` + ns + `><alert severity="page"/></vmcheck:check>`, policy.Policy{}, "alert.severity"},
		{"alert receiver with a space", `<vmcheck:check ` + ns + `><alert receiver="acme oncall"/></vmcheck:check>`, policy.Policy{}, "alert.receiver"},
		{"alert tenant with a quote", `<vmcheck:check ` + ns + `><alert tenant='a"b'/></vmcheck:check>`, policy.Policy{}, "alert.tenant"},
		{"alert tenant too long", `<vmcheck:check ` + ns + `><alert tenant="` + strings.Repeat("a", 64) + `"/></vmcheck:check>`, policy.Policy{}, "alert.tenant"},
		{"two alerts", `<vmcheck:check ` + ns + `><alert notify="both"/><alert notify="none"/></vmcheck:check>`, policy.Policy{}, "alert: 2 elements"},
		{"too many nics", `<vmcheck:check ` + ns + `>` + strings.Repeat(`<nic mac="52:54:00:0c:00:11" address="192.0.2.7"/>`, 33) + `</vmcheck:check>`, policy.Policy{}, "at most 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseMetadata(tt.xml).Policy
			if tt.wantError != "" {
				if !strings.Contains(got.Error, tt.wantError) || got.Enabled != nil || got.Interval != 0 || got.RetryInterval != 0 || len(got.Targets) != 0 || got.Alert != (policy.Alert{}) {
					t.Errorf("ParseMetadata(%q) = %+v, want only an error containing %q", tt.xml, got, tt.wantError)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMetadata(%q) = %+v, want %+v", tt.xml, got, tt.want)
			}
		})
	}
}

func TestParseMetadataNovaVersions(t *testing.T) {
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		x := `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/` + v + `"><nova:name>db</nova:name>` +
			`<nova:owner><nova:user uuid="u">alice</nova:user><nova:project uuid="p">payments</nova:project></nova:owner></nova:instance>`
		got := ParseMetadata(x).Nova
		if want := (model.Nova{Instance: "db", Project: "payments"}); got != want {
			t.Errorf("nova %s: ParseMetadata = %+v, want %+v", v, got, want)
		}
	}
}

// nicsOf formats the platform facts of a domain's NICs for comparison.
func nicsOf(d model.Domain) []string {
	var out []string
	for _, n := range d.NICs {
		out = append(out, fmt.Sprintf("%s %s link_down=%v expected=%v gateways=%v", n.MAC, n.Device, n.LinkDown, n.Expected, n.Gateways))
	}
	return out
}

func TestParseDomainXMLNICFacts(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"nova-ports.xml", []string{
			// matched by its OVS interfaceid; the floating address is not the guest's
			"fa:16:3e:5c:1f:01 tap567a4527-b0 link_down=false expected=[{192.168.1.1 nova} {fe80::f95c:b030:7094 nova}] gateways=[]",
			// matched by its tap name only; link set down on the host
			"fa:16:3e:5c:1f:02 tapa3ca97e2-0c link_down=true expected=[{10.0.0.1 nova} {fdf8:f53b:82e4::52 nova}] gateways=[]",
		}},
		{"virsh-set-nic.xml", []string{
			"aa:bb:cc:dd:ee:ff testnet0 link_down=false expected=[{192.168.122.50 metadata} {2001:db8:ca2:2::50 metadata}] gateways=[{192.168.122.1 metadata}]",
		}},
		{"nova.xml", []string{ // a port no NIC of the domain carries
			"aa:bb:cc:dd:ee:ff testnet0 link_down=false expected=[] gateways=[]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := ParseDomainXML(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParseDomainXML: %v", err)
			}
			if got := nicsOf(d); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDomainXML(%s) NICs =\n%s\nwant\n%s", tt.file, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseMetadataNovaPorts(t *testing.T) {
	const nova = `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:ports>`
	tests := []struct {
		name, ports string
		want        string
	}{
		{"fixed only", `<nova:port uuid="567A4527-B0E4-4D0A-BCC2-71FDA37897F7"><nova:ip type="fixed" address="10.0.0.5" ipVersion="4"/><nova:ip type="floating" address="203.0.113.5" ipVersion="4"/></nova:port>`,
			"[{567a4527-b0e4-4d0a-bcc2-71fda37897f7 [10.0.0.5]}]"},
		{"version mismatch and bad addresses", `<nova:port uuid="567a4527-b0e4-4d0a-bcc2-71fda37897f7"><nova:ip type="fixed" address="10.0.0.5" ipVersion="6"/><nova:ip type="fixed" address="x"/><nova:ip type="fixed" address="0.0.0.0"/><nova:ip type="fixed" address="2001:db8::5"/></nova:port>`,
			"[{567a4527-b0e4-4d0a-bcc2-71fda37897f7 [2001:db8::5]}]"},
		{"short id", `<nova:port uuid="abc"><nova:ip type="fixed" address="10.0.0.5"/></nova:port>`, "[]"},
		{"too many addresses", `<nova:port uuid="567a4527-b0e4-4d0a-bcc2-71fda37897f7">` + manyIPs(40) + `</nova:port>`, "16 addresses"},
		{"too many ports", strings.Repeat(`<nova:port uuid="567a4527-b0e4-4d0a-bcc2-71fda37897f7"/>`, 100), "64 ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := ParseMetadata(nova + tt.ports + `</nova:ports></nova:instance>`).Ports
			got := fmt.Sprint(ports)
			switch {
			case strings.HasSuffix(tt.want, " addresses"):
				if len(ports) != 1 || fmt.Sprintf("%d addresses", len(ports[0].Fixed)) != tt.want {
					t.Errorf("ports = %s, want one with %s", got, tt.want)
				}
			case strings.HasSuffix(tt.want, " ports"):
				if fmt.Sprintf("%d ports", len(ports)) != tt.want {
					t.Errorf("%d ports, want %s", len(ports), tt.want)
				}
			case got != tt.want:
				t.Errorf("ports = %s, want %s", got, tt.want)
			}
		})
	}
}

func manyIPs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `<nova:ip type="fixed" address="10.0.1.%d" ipVersion="4"/>`, i+1)
	}
	return b.String()
}

func TestParseNetworkDHCP(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "network", "dhcp-hosts.xml"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNetwork(string(b))
	if err != nil {
		t.Fatalf("ParseNetwork: %v", err)
	}
	if got, want := fmt.Sprint(n.Addrs), "[192.168.122.1/24 2001:db8:ca2:2::1/64]"; got != want {
		t.Errorf("Addrs = %s, want %s", got, want)
	}
	n.AddLeases([]Lease{
		{MAC: "52:54:00:0c:00:12", Addr: "192.168.122.140"},     // the host entry wins
		{MAC: "52:54:00:0c:00:12", Addr: "2001:db8:ca2:2::1a2"}, // no IPv6 host entry
		{MAC: "52:54:00:0c:00:14", Addr: "192.168.122.141"},
		{MAC: "52:54:00:0c:00:14", Addr: "192.168.122.141"}, // twice
		{MAC: "bogus", Addr: "192.168.122.142"},
		{MAC: "52:54:00:0c:00:15", Addr: "192.168.122.300"},
	})
	tests := []struct{ mac, want string }{
		{"aa:bb:cc:dd:ee:ff", "[{192.168.122.50 libvirt-dhcp}]"}, // the IPv6 host entry has a DUID, not a MAC
		{"52:54:00:0c:00:12", "[{192.168.122.12 libvirt-dhcp} {2001:db8:ca2:2::1a2 libvirt-dhcp}]"},
		{"52:54:00:0C:00:14", "[{192.168.122.141 libvirt-dhcp}]"},
		{"52:54:00:0c:00:15", "[]"},
		{"", "[]"},
	}
	for _, tt := range tests {
		mac, _ := guestagent.ParseMAC(tt.mac) // the spelling the edge reads
		if got := fmt.Sprint(n.Expected(mac)); got != tt.want {
			t.Errorf("Expected(%q) = %s, want %s", tt.mac, got, tt.want)
		}
	}
}

func TestNetworkLeasesBounded(t *testing.T) {
	var n Network
	var leases []Lease
	for i := range 2 * MaxDHCPEntries {
		leases = append(leases, Lease{MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Addr: fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff+1)})
	}
	for i := range 40 {
		leases = append([]Lease{{MAC: "52:54:00:ff:ff:ff", Addr: fmt.Sprintf("10.255.0.%d", i+1)}}, leases...)
	}
	n.AddLeases(leases)
	total := 0
	for _, as := range n.Leases {
		total += len(as)
	}
	if total != MaxDHCPEntries || len(n.Leases["52:54:00:ff:ff:ff"]) != model.MaxExpectedAddrs {
		t.Errorf("kept %d leases, %d for one MAC; want %d, %d", total, len(n.Leases["52:54:00:ff:ff:ff"]), MaxDHCPEntries, model.MaxExpectedAddrs)
	}
}

// TestParseMetadataProbes: <vmcheck:probe> elements are the domain's
// probes, with the config file's keys, bounds and errors.
func TestParseMetadataProbes(t *testing.T) {
	const ns = `xmlns:vmcheck="https://vmcheck.dev/xmlns/1"`
	got := ParseMetadata(`<vmcheck:check ` + ns + `><probe method="dns" name="www.example.test" expect="203.0.113.10"/>` +
		`<probe method="icmp" count="10" max_loss="20%"/></vmcheck:check>`).Policy
	if got.Error != "" || len(got.Probes) != 2 {
		t.Fatalf("ParseMetadata = %+v, want two probes", got)
	}
	if d := got.Probes[0]; d.Method != "dns" || d.Name != "www.example.test" || d.Expect.String() != "203.0.113.10" {
		t.Errorf("dns probe = %+v", d)
	}
	if i := got.Probes[1]; i.Count != 10 || *i.MaxLoss != 0.2 {
		t.Errorf("icmp probe = %+v", i)
	}
	for xml, want := range map[string]string{
		`<probe method="tcp" target="203.0.113.1:99999"/>`:           "probe[0]: target:",
		`<probe method="dns" name="-x"/>`:                            "probe[0]: name:",
		`<probe method="icmp" bogus="1"/>`:                           `unknown key "bogus"`,
		`<probe name="x.test"/>`:                                     `method: "" is not one of`,
		strings.Repeat(`<probe method="dns" name="a.test"/>`, 9):     "at most 8",
		`<probe method="http" url="http://u:p@203.0.113.1/"/>`:       "credentials",
		`<probe method="icmp"/><probe method="icmp" count="2"/>`:     "a second icmp probe",
		`<probe method="icmp" count="3"/><target>192.0.2.1</target>`: "",
		`<probe method="dns" name="a.test" name2="b"/>`:              `unknown key "name2"`,
		`<probe method="icmp" count="1" count="2"/>`:                 "count: given twice",
	} {
		p := ParseMetadata(`<vmcheck:check ` + ns + `>` + xml + `</vmcheck:check>`).Policy
		if want == "" {
			if p.Error != "" {
				t.Errorf("%s: error %q", xml, p.Error)
			}
			continue
		}
		if !strings.Contains(p.Error, want) || len(p.Probes) != 0 {
			t.Errorf("%s: policy %+v, want only an error containing %q", xml, p, want)
		}
	}
}
