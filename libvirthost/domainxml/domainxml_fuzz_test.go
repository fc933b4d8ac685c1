package domainxml

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// liveDomainXML is a live domain as libvirt 9 dumps it, cut to what
// ParseDomainXML reads.
const liveDomainXML = `<domain type='kvm' id='3'>
  <name>lab-debian</name>
  <uuid>6f1c5ab0-6ef4-4f25-9d3e-2a1f4c7b9e01</uuid>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:0C:00:11'/>
      <source bridge='vcpub0'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:0c:00:12'/>
      <source network='default' portid='0b1c' bridge='virbr0'/>
      <target dev='vnet1'/>
      <model type='e1000'/>
    </interface>
    <interface type='direct'><mac address='52:54:00:0c:00:13'/><source dev='eth0' mode='bridge'/></interface>
    <interface type='user'><mac address='52:54:00:0c:00:14'/></interface>
    <channel type='unix'>
      <source mode='bind' path='/run/libvirt/qemu/channel/3-lab-debian/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
    </channel>
  </devices>
</domain>`

// xmlFloods returns hostile XML documents of about n bytes.
func xmlFloods(n int) map[string]string {
	rep := func(s string) string { return strings.Repeat(s, max(n/len(s), 1)) }
	domain := func(devices string) string { return "<domain type='kvm'><devices>" + devices + "</devices></domain>" }
	return map[string]string{
		"newlines":   rep("\n"),
		"ff":         rep("\xff"),
		"nul":        rep("\x00"),
		"braces":     rep("{}"),
		"nesting":    rep("<a>"),
		"deepdomain": "<domain>" + rep("<devices>"),
		"longtext":   "<domain><name>" + rep("a") + "</name></domain>",
		"longattr":   domain("<interface type='network'><mac address='" + rep("A") + "'/></interface>"),
		"interfaces": domain(rep("<interface type='network'><mac address='52:54:00:0c:00:12'/><source network='default'/></interface>")),
		"channels":   domain(rep("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='x'/></channel>")),
		"entities":   "<domain><name>" + rep("&amp;&#x202e;") + "</name></domain>",
		"comments":   "<domain>" + rep("<!---->") + "</domain>",
		"metadata":   "<domain><metadata>" + rep("<a:b xmlns:a='x'/>") + "</metadata></domain>",
		"attrs":      "<domain " + rep("a='b' ") + "/>",
		"namespaces": "<domain " + rep("xmlns:a='b' ") + "/>",
	}
}

// FuzzParseDomainXML checks ParseDomainXML on any document, including
// 1 and 4 MiB floods: no panic; a known channel state; every model.NIC with a
// lower-case, non-empty MAC and a known source type; and the metadata
// policy within its caps.
func FuzzParseDomainXML(f *testing.F) {
	f.Add(liveDomainXML)
	for _, name := range []string{"nova.xml", "virsh-set.xml"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "metadata", name))
		f.Add(string(b))
	}
	b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "metadata", "nova-ports.xml"))
	f.Add(string(b))
	f.Add(`<domain><devices><interface type='network'/></devices></domain>`)
	f.Add(`<domain><devices><interface type='bridge'><mac address='fa:16:3e:00:00:01'/><virtualport><parameters interfaceid='x'/></virtualport><target dev='tap'/><link state='down'/></interface></devices></domain>`)
	f.Add(`<domain><devices><channel><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices></domain>`)
	for _, s := range xmlFloods(1 << 20) {
		f.Add(s)
	}
	big := xmlFloods(4 << 20)
	for _, name := range []string{"nesting", "metadata", "longtext"} {
		f.Add(big[name])
	}
	sourceTypes := map[string]bool{"": true, "network": true, "bridge": true, "direct": true, "ethernet": true, "user": true, "vhostuser": true, "hostdev": true}
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := ParseDomainXML(doc)
		if err != nil {
			return
		}
		switch d.Channel {
		case model.ChannelNone, model.ChannelConnected, model.ChannelDisconnected, model.ChannelUnknown:
		default:
			t.Errorf("channel state %q", d.Channel)
		}
		for i, n := range d.NICs {
			if n.MAC == "" || string(n.MAC) != strings.ToLower(string(n.MAC)) {
				t.Errorf("model.NIC %d: MAC %.80q empty or not lower-case", i, n.MAC)
			}
			if !sourceTypes[n.SourceType] {
				t.Errorf("model.NIC %d: source type %q", i, n.SourceType)
			}
			checkExpected(t, n.Expected, "nova", "metadata")
			checkExpected(t, n.Gateways, "metadata")
		}
		checkPolicy(t, d.Policy)
	})
}

// checkExpected reports a NIC's expected addresses or gateways outside
// their bounds: more than model.MaxExpectedAddrs, an address
// model.ValidateExpected rejects, one listed twice, or a source not in
// sources.
func checkExpected(t *testing.T, list []model.ExpectedAddr, sources ...string) {
	t.Helper()
	if len(list) > model.MaxExpectedAddrs {
		t.Errorf("%d expected addresses", len(list))
	}
	seen := map[netip.Addr]bool{}
	for _, e := range list {
		if model.ValidateExpected(e.Addr) != nil || seen[e.Addr] || !slices.Contains(sources, e.Source) {
			t.Errorf("expected address %+v invalid, repeated or of an unknown source", e)
		}
		seen[e.Addr] = true
	}
}

// FuzzParseNetworkXML checks ParseNetwork: no panic; each prefix valid,
// with the network's own address (not masked) and no more bits than the
// address has; at most MaxDHCPEntries DHCP host entries, and what each
// MAC gets within checkExpected's bounds.
func FuzzParseNetworkXML(f *testing.F) {
	f.Add(`<network><name>default</name><ip address='192.168.122.1' netmask='255.255.255.0'/><ip family='ipv6' address='2001:db8:ca2:2::1' prefix='64'/></network>`)
	f.Add(`<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>`)
	f.Add(`<network><name>n</name><ip address='fe80::1%eth0' prefix='200'/></network>`)
	b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "network", "dhcp-hosts.xml"))
	f.Add(string(b))
	f.Add("<network><ip address='10.0.0.1' prefix='8'><dhcp>" + strings.Repeat("<host mac='52:54:00:00:00:01' ip='10.0.0.2'/><host mac='52:54:00:00:00:0X' ip='10.0.0.3'/>", (1<<20)/90) + "</dhcp></ip></network>")
	for _, name := range []string{"newlines", "nesting", "longtext", "attrs"} {
		f.Add(xmlFloods(1 << 20)[name])
	}
	f.Add("<network>" + strings.Repeat("<ip address='10.0.0.1' prefix='8'/>", (1<<20)/36) + "</network>")
	f.Fuzz(func(t *testing.T, doc string) {
		n, err := ParseNetwork(doc)
		if err != nil {
			return
		}
		for _, p := range n.Addrs {
			if !p.IsValid() || p.Bits() < 0 || p.Bits() > p.Addr().BitLen() {
				t.Errorf("ParseNetwork() prefix %v", p)
			}
		}
		total := 0
		for key, as := range n.Hosts {
			total += len(as)
			checkExpected(t, n.Expected(guestagent.MAC(key)), "libvirt-dhcp")
		}
		if total > MaxDHCPEntries {
			t.Errorf("ParseNetwork() kept %d DHCP host entries", total)
		}
	})
}

// BenchmarkParseDomainXMLLarge parses 256 KiB and 1 MiB domain documents: a
// live domain padded with NICs (plain) against floods.
func BenchmarkParseDomainXMLLarge(b *testing.B) {
	iface := "<interface type='network'><mac address='52:54:00:0c:00:12'/><source network='default'/><target dev='vnet1'/><model type='virtio'/></interface>\n"
	for _, n := range []int{256 << 10, 1 << 20} {
		fl := xmlFloods(n)
		inputs := []struct {
			name string
			doc  string
		}{
			{"plain", strings.Replace(liveDomainXML, "<devices>", "<devices>"+strings.Repeat(iface, n/len(iface)), 1)},
			{"newlines", liveDomainXML + fl["newlines"]},
			{"nesting", fl["nesting"]},
			{"deepdomain", fl["deepdomain"]},
			{"longtext", fl["longtext"]},
			{"entities", fl["entities"]},
			{"metadata", fl["metadata"]},
			{"attrs", fl["attrs"]},
		}
		for _, in := range inputs {
			b.Run(in.name+"/"+checkerSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.doc)))
				b.ReportAllocs()
				for b.Loop() {
					_, _ = ParseDomainXML(in.doc)
				}
			})
		}
	}
}

// checkerSize names a size for a sub-benchmark: "256KiB", "1MiB".
func checkerSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
