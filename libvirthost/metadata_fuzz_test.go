package libvirthost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/checker"
)

// checkPolicy reports a metadata policy outside its documented bounds: at
// most checker.MaxPolicyTargets valid targets, an interval of zero or between
// checker.MinPolicyInterval and checker.MaxPolicyInterval, and nothing set when Error
// says the metadata was ignored.
func checkPolicy(t *testing.T, p checker.Policy) {
	t.Helper()
	if len(p.Targets) > checker.MaxPolicyTargets {
		t.Errorf("policy with %d targets", len(p.Targets))
	}
	for _, a := range p.Targets {
		if err := checker.ValidateTarget(a); err != nil {
			t.Errorf("policy target %v: %v", a, err)
		}
	}
	if p.Interval != 0 && (p.Interval < checker.MinPolicyInterval || p.Interval > checker.MaxPolicyInterval) {
		t.Errorf("policy interval %v", p.Interval)
	}
	if p.Error != "" && (p.Enabled != nil || p.Interval != 0 || len(p.Targets) > 0) {
		t.Errorf("policy %+v set although ignored", p)
	}
}

// metadataInner returns the inner XML of the <metadata> of a testdata file.
func metadataInner(name string) string {
	b, _ := os.ReadFile(filepath.Join("..", "testdata", "metadata", name))
	_, inner, _ := strings.Cut(string(b), "<metadata>")
	inner, _, _ = strings.Cut(inner, "</metadata>")
	return inner
}

// FuzzParseMetadata checks ParseMetadata on any inner XML, including 1 MiB
// floods (4 MiB ones are in FuzzParseDomainXML): no panic; the policy within its caps (checkPolicy); checker.Nova
// names trimmed.
func FuzzParseMetadata(f *testing.F) {
	const check = `<vmcheck:check xmlns:vmcheck="https://vmcheck.dev/xmlns/1" `
	f.Add(metadataInner("nova.xml"))
	f.Add(metadataInner("virsh-set.xml"))
	f.Add(check + `enabled="false" interval="90s"><target>203.0.113.20</target><target>2001:db8::20</target></vmcheck:check>`)
	f.Add(check + `interval="1ns"><target>0.0.0.0</target><target>fe80::1%eth0</target><target>224.0.0.1</target></vmcheck:check>`)
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
	f.Add(check + "><target>" + rep("\u202e", n) + "</target></vmcheck:check>")
	f.Add(rep(check+"/>", n))
	f.Add(`<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>` + rep("a", n) + `</nova:name></nova:instance>`)
	f.Add(rep("<a/>", n))
	f.Fuzz(func(t *testing.T, inner string) {
		p, nova := ParseMetadata(inner)
		checkPolicy(t, p)
		if nova.Instance != strings.TrimSpace(nova.Instance) || nova.Project != strings.TrimSpace(nova.Project) {
			t.Errorf("checker.Nova %+v not trimmed", nova)
		}
	})
}

// BenchmarkParseMetadataLarge parses 256 KiB and 1 MiB of metadata: checker.Nova's
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
