package domainxml

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/model"
)

// TestHostNIC reads the host side libvirt's domain XML describes: the
// cited samples of testdata/nic/domain (vhost-user, SR-IOV hostdev) and
// Nova's OVS and hybrid-bridge plugging (testdata/metadata/nova-ports.xml).
func TestHostNIC(t *testing.T) {
	tests := []struct {
		file string
		want hostnic.NIC
	}{
		{"nic/domain/vhostuser-server.xml", hostnic.NIC{Kind: model.HostKindVhostUser, MAC: "52:54:00:bd:72:5f",
			Device: "vhost1.sock", Socket: "/tmp/vhost1.sock", SocketMode: "server"}},
		{"nic/domain/vhostuser-opennebula.xml", hostnic.NIC{Kind: model.HostKindVhostUser, MAC: "02:00:c0:a8:7a:02",
			Device: "one-10-0", Socket: "/var/lib/one//datastores/0/10/one-10-0", SocketMode: "server"}},
		{"nic/domain/hostdev-interface.xml", hostnic.NIC{Kind: model.HostKindHostdev, MAC: "52:54:00:6d:90:02", PCI: "0000:00:07.0"}},
		{"metadata/nova-ports.xml", hostnic.NIC{Kind: model.HostKindOpenVSwitch, MAC: "fa:16:3e:5c:1f:01", Device: "tap567a4527-b0", Bridge: "br-int",
			InterfaceID: "567a4527-b0e4-4d0a-bcc2-71fda37897f7", NovaPort: "567a4527-b0e4-4d0a-bcc2-71fda37897f7"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDomainXML(string(b))
			if err != nil {
				t.Fatal(err)
			}
			n := d.NICs[0]
			in, ok := n.Host.(hostnic.Inspector)
			if n.HostKind != tt.want.Kind || !ok {
				t.Fatalf("NIC %s: host kind %q, inspector %T; want %q", n.MAC, n.HostKind, n.Host, tt.want.Kind)
			}
			if in.NIC != tt.want {
				t.Errorf("host side\n %+v\nwant\n %+v", in.NIC, tt.want)
			}
		})
	}
}

// TestHostNICKinds: Nova's hybrid plugging (a Linux bridge qbr…) is a
// bridge; a NIC of no known kind has no inspector.
func TestHostNICKinds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "metadata", "nova-ports.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDomainXML(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.NICs[1]; n.HostKind != model.HostKindBridge || n.Host == nil {
		t.Errorf("hybrid plug: %q %T, want a bridge", n.HostKind, n.Host)
	}
	user := `<domain type='qemu'><name>u</name><devices><interface type='user'><mac address='52:54:00:00:00:01'/></interface></devices></domain>`
	d, err = ParseDomainXML(user)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.NICs[0]; n.HostKind != model.HostKindOther || n.Host != nil {
		t.Errorf("user networking: %q %T, want other without an inspector", n.HostKind, n.Host)
	}
	// lab-macvtap's NIC, as libvirt's live XML has it.
	direct := `<domain type='qemu'><name>m</name><devices><interface type='direct'><mac address='52:54:00:0c:00:27'/>` +
		`<source dev='vcmvt0' mode='bridge'/><target dev='macvtap0'/></interface></devices></domain>`
	if d, err = ParseDomainXML(direct); err != nil {
		t.Fatal(err)
	}
	want := hostnic.NIC{Kind: model.HostKindDirect, MAC: "52:54:00:0c:00:27", Device: "macvtap0", Lower: "vcmvt0", Mode: "bridge"}
	if in, ok := d.NICs[0].Host.(hostnic.Inspector); !ok || in.NIC != want {
		t.Errorf("macvtap: %+v, want %+v", d.NICs[0].Host, want)
	}
}
