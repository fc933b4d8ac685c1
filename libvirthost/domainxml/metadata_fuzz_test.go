package domainxml

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/policy"
)

// checkPolicy reports a metadata policy outside its documented bounds: at
// most policy.MaxTargets valid targets, an interval and a retry
// interval each of zero or between policy.MinInterval and
// policy.MaxInterval, and nothing set when Error says the metadata
// was ignored.
func checkPolicy(t *testing.T, p policy.Policy) {
	t.Helper()
	if len(p.Targets) > policy.MaxTargets {
		t.Errorf("policy with %d targets", len(p.Targets))
	}
	for _, a := range p.Targets {
		if err := osdetect.ValidateOperatorTarget(a); err != nil {
			t.Errorf("policy target %v: %v", a, err)
		}
	}
	for _, d := range []time.Duration{p.Interval, p.RetryInterval} {
		if d != 0 && (d < policy.MinInterval || d > policy.MaxInterval) {
			t.Errorf("policy interval or retry interval %v", d)
		}
	}
	if p.Error != "" && (p.Enabled != nil || p.Interval != 0 || p.RetryInterval != 0 || len(p.Targets) > 0) {
		t.Errorf("policy %+v set although ignored", p)
	}
}

// checkMetadataFacts reports Nova ports or vmcheck NIC facts outside their
// bounds: at most maxNovaPorts ports with a lower-case id of 11 to 64
// bytes and at most model.MaxExpectedAddrs valid, distinct fixed
// addresses each; at most maxMetadataNICs NIC facts, each with a
// normalised MAC and a valid address or gateway, and none when the
// metadata was ignored.
func checkMetadataFacts(t *testing.T, md Metadata) {
	t.Helper()
	if len(md.Ports) > maxNovaPorts {
		t.Errorf("%d Nova ports", len(md.Ports))
	}
	for _, p := range md.Ports {
		if len(p.ID) < 11 || len(p.ID) > 64 || p.ID != strings.ToLower(p.ID) {
			t.Errorf("Nova port id %.80q", p.ID)
		}
		if len(p.Fixed) > model.MaxExpectedAddrs {
			t.Errorf("Nova port with %d addresses", len(p.Fixed))
		}
		for i, a := range p.Fixed {
			if model.ValidateExpected(a) != nil || slices.Contains(p.Fixed[:i], a) {
				t.Errorf("Nova port address %v invalid or repeated", a)
			}
		}
	}
	if len(md.NICs) > maxMetadataNICs || (md.Policy.Error != "" && len(md.NICs) > 0) {
		t.Errorf("%d NIC facts (policy error %q)", len(md.NICs), md.Policy.Error)
	}
	for _, f := range md.NICs {
		if m, ok := guestagent.NormalMAC(f.MAC); !ok || m != f.MAC {
			t.Errorf("NIC fact MAC %.80q", f.MAC)
		}
		if !f.Address.IsValid() && !f.Gateway.IsValid() {
			t.Errorf("NIC fact %+v with neither address nor gateway", f)
		}
		for _, a := range []netip.Addr{f.Address, f.Gateway} {
			if a.IsValid() && model.ValidateExpected(a) != nil {
				t.Errorf("NIC fact address %v", a)
			}
		}
	}
}

// metadataInner returns the inner XML of the <metadata> of a testdata file.
func metadataInner(name string) string {
	b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "metadata", name))
	_, inner, _ := strings.Cut(string(b), "<metadata>")
	inner, _, _ = strings.Cut(inner, "</metadata>")
	return inner
}

// FuzzParseMetadata checks ParseMetadata on any inner XML, including 1 MiB
// floods (4 MiB ones are in FuzzParseDomainXML): no panic; the policy within its caps (checkPolicy); model.Nova
// names trimmed.
func FuzzParseMetadata(f *testing.F) {
	const check = `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/1" `
	f.Add(metadataInner("nova.xml"))
	f.Add(metadataInner("virsh-set.xml"))
	f.Add(check + `enabled="false" interval="90s"><target>203.0.113.20</target><target>2001:db8::20</target></vmcheck:check>`)
	f.Add(check + `interval="1ns"><target>0.0.0.0</target><target>fe80::1%eth0</target><target>224.0.0.1</target></vmcheck:check>`)
	f.Add(check + `enabled="true" interval="2m" retry_interval="5s"/>`)
	f.Add(check + `retry_interval="4.999s" interval="-5s"/>`)
	f.Add(check + `enabled="maybe"/>` + check + `enabled="true"/>`)
	f.Add(`<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.2"><nova:name>  a` + "\u202e" + `b  </nova:name><nova:owner><nova:project>p</nova:project></nova:owner></nova:instance>`)
	const n = 1 << 20
	rep := func(s string, n int) string { return strings.Repeat(s, max(n/len(s), 1)) }
	for _, s := range xmlFloods(n) {
		f.Add(s)
	}
	f.Add(check + ">" + rep("<target>203.0.113.20</target>", n) + "</vmcheck:check>")
	f.Add(check + ">" + rep("<x>", n) + "</vmcheck:check>")
	f.Add(check + `interval="` + rep("9", n) + `h"/>`)
	f.Add(check + `retry_interval="` + rep("9", n) + `h"/>`)
	f.Add(check + "><target>" + rep("\u202e", n) + "</target></vmcheck:check>")
	f.Add(rep(check+"/>", n))
	f.Add(`<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>` + rep("a", n) + `</nova:name></nova:instance>`)
	f.Add(rep("<a/>", n))
	f.Add(metadataInner("nova-ports.xml"))
	f.Add(metadataInner("virsh-set-nic.xml"))
	f.Add(check + `><nic mac="52:54:00:0c:00:11" address="::ffff:192.0.2.1" gateway="fe80::1%eth0"/><nic mac="x"/></vmcheck:check>`)
	f.Add(check + ">" + rep(`<nic mac="52:54:00:0c:00:11" address="192.0.2.1"/>`, n) + "</vmcheck:check>")
	f.Add(`<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:ports>` +
		rep(`<nova:port uuid="567a4527-b0e4-4d0a-bcc2-71fda37897f7"><nova:ip type="fixed" address="10.0.0.1" ipVersion="4"/></nova:port>`, n) + `</nova:ports></nova:instance>`)
	f.Fuzz(func(t *testing.T, inner string) {
		md := ParseMetadata(inner)
		checkPolicy(t, md.Policy)
		nova := md.Nova
		if nova.Instance != strings.TrimSpace(nova.Instance) || nova.Project != strings.TrimSpace(nova.Project) {
			t.Errorf("model.Nova %+v not trimmed", nova)
		}
		checkMetadataFacts(t, md)
	})
}

// BenchmarkParseMetadataLarge parses 256 KiB and 1 MiB of metadata: model.Nova's
// and vmcheck's elements padded with foreign ones (plain) against floods.
func BenchmarkParseMetadataLarge(b *testing.B) {
	plain := metadataInner("nova.xml")
	pad := `<foreign:x xmlns:foreign="https://example.com/ns"><foreign:y a="b">text</foreign:y></foreign:x>` + "\n"
	for _, n := range []int{256 << 10, 1 << 20} {
		fl := xmlFloods(n)
		inputs := []struct {
			name  string
			inner string
		}{
			{"plain", strings.Repeat(pad, n/len(pad)) + plain},
			{"newlines", fl["newlines"] + plain},
			{"nesting", fl["nesting"]},
			{"metadata", fl["metadata"]},
			{"targets", `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/1">` + strings.Repeat("<target>203.0.113.20</target>", n/30) + "</vmcheck:check>"},
			{"interval", `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/1" interval="` + strings.Repeat("9", n) + `"/>`},
		}
		for _, in := range inputs {
			b.Run(in.name+"/"+checkerSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.inner)))
				b.ReportAllocs()
				for b.Loop() {
					ParseMetadata(in.inner)
				}
			})
		}
	}
}
