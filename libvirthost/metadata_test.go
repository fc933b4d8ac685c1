package libvirthost

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "metadata", name))
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
		wantPolicy checker.Policy
		wantNova   checker.Nova
	}{
		{"virsh-set.xml", checker.Policy{Enabled: &f, Interval: 90 * time.Second, Targets: addrs("203.0.113.20", "2001:db8::20")}, checker.Nova{}},
		{"nova.xml", checker.Policy{Interval: 2 * time.Minute, Targets: addrs("198.51.100.7")}, checker.Nova{Instance: "web-01 (shop)", Project: "shop"}},
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
		want      checker.Policy
		wantError string
	}{
		{"empty", ``, checker.Policy{}, ""},
		{"other namespaces only", `<app:x xmlns:app="http://example.com/app"><app:y>1</app:y></app:x>`, checker.Policy{}, ""},
		{"enabled", `<vmcheck:check ` + ns + ` enabled="true"/>`, checker.Policy{Enabled: &tr}, ""},
		{"children without namespace", `<vmcheck:check ` + ns + `><target>192.0.2.7</target></vmcheck:check>`, checker.Policy{Targets: addrs("192.0.2.7")}, ""},
		{"default namespace", `<check xmlns="https://vmcheck.dev/xmlns/1" interval="10s"><target> 192.0.2.8 </target></check>`,
			checker.Policy{Interval: 10 * time.Second, Targets: addrs("192.0.2.8")}, ""},
		{"wrong namespace ignored", `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/2" enabled="false"/>`, checker.Policy{}, ""},
		{"bad enabled", `<vmcheck:check ` + ns + ` enabled="nope"/>`, checker.Policy{}, "enabled"},
		{"bad interval", `<vmcheck:check ` + ns + ` interval="often"/>`, checker.Policy{}, "interval"},
		{"interval too short", `<vmcheck:check ` + ns + ` interval="1s"/>`, checker.Policy{}, "interval"},
		{"bad target", `<vmcheck:check ` + ns + `><vmcheck:target>gw.example.com</vmcheck:target></vmcheck:check>`, checker.Policy{}, "not an IP address"},
		{"multicast target", `<vmcheck:check ` + ns + `><vmcheck:target>224.0.0.1</vmcheck:target></vmcheck:check>`, checker.Policy{}, "multicast"},
		{"too many targets", `<vmcheck:check ` + ns + `>` + strings.Repeat(`<vmcheck:target>192.0.2.1</vmcheck:target>`, 9) + `</vmcheck:check>`, checker.Policy{}, "at most"},
		{"not well formed", `<vmcheck:check ` + ns + `>`, checker.Policy{}, "XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := ParseMetadata(tt.xml)
			if tt.wantError != "" {
				if !strings.Contains(got.Error, tt.wantError) || got.Enabled != nil || len(got.Targets) != 0 {
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
		_, got := ParseMetadata(x)
		if want := (checker.Nova{Instance: "db", Project: "payments"}); got != want {
			t.Errorf("nova %s: ParseMetadata = %+v, want %+v", v, got, want)
		}
	}
}
