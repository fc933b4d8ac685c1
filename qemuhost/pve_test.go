package qemuhost_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/vmcheck/vmcheck/qemuhost"
)

func ptr[T any](v T) *T { return &v }

func TestReadPVEConfig(t *testing.T) {
	tests := []struct {
		id   string
		ok   bool
		want qemuhost.PVEConfig
	}{
		{"101", true, qemuhost.PVEConfig{
			Name:  "web-1",
			UUID:  "8f6b7c1e-2d3a-4b5c-9d8e-7f6a5b4c3d2e",
			Agent: ptr(true),
			NICs: []qemuhost.PVENIC{
				{Index: 0, Model: "virtio", MAC: "bc:24:11:2e:c8:9b", Bridge: "vmbr0", Firewall: true},
				{Index: 1, Model: "e1000", MAC: "bc:24:11:aa:bb:cc", Bridge: "vmbr1"},
				{Index: 10, Model: "rtl8139", MAC: "bc:24:11:00:00:0a"},
			},
		}},
		{"102", true, qemuhost.PVEConfig{
			Name:  "nat-box",
			UUID:  "2f1c0d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
			Agent: ptr(false),
			NICs: []qemuhost.PVENIC{
				{Index: 0, Model: "virtio", Firewall: true}, // NAT: no bridge; MAC left to QEMU
				{Index: 1, Model: "e1000", Bridge: "vmbr0"},
			},
		}},
		{"103", true, qemuhost.PVEConfig{}},
		{"104", true, qemuhost.PVEConfig{
			Name:      "ci-1",
			UUID:      "5a0c9d2e-8b1f-4e6a-9c3d-7f2e1b0a4c5d",
			Agent:     ptr(true),
			CloudInit: true,
			NICs: []qemuhost.PVENIC{
				{Index: 0, Model: "virtio", MAC: "bc:24:11:5e:7a:01", Bridge: "vmbr0"},
				{Index: 1, Model: "virtio", MAC: "bc:24:11:5e:7a:02", Bridge: "vmbr1", LinkDown: true},
				{Index: 2, Model: "virtio", MAC: "bc:24:11:5e:7a:03", Bridge: "vmbr2", Firewall: true},
			},
			IPConfigs: map[int]qemuhost.PVEIPConfig{
				0: {Addrs: addrs("192.0.2.5", "2001:db8::5"), Gateways: addrs("192.0.2.1", "2001:db8::1")},
				1: {}, // dhcp, auto: nothing known
				3: {Addrs: addrs("198.51.100.9")},
			},
		}},
		{"999", false, qemuhost.PVEConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, ok, err := qemuhost.ReadPVEConfig("testdata/pve", tc.id)
			if err != nil || ok != tc.ok {
				t.Fatalf("ReadPVEConfig(%s) = ok %v, %v; want ok %v", tc.id, ok, err, tc.ok)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadPVEConfig(%s) =\n %+v\nwant\n %+v", tc.id, got, tc.want)
			}
		})
	}
}

func TestPVEAgentFlag(t *testing.T) {
	tests := []struct {
		line string
		want *bool
	}{
		{"agent: 1", ptr(true)},
		{"agent: 0", ptr(false)},
		{"agent: enabled=1,fstrim_cloned_disks=1", ptr(true)},
		{"agent: 0,type=isa", ptr(false)},
		{"agent: type=virtio", nil},
		{"agent: maybe", nil},
	}
	for _, tc := range tests {
		cfg, err := qemuhost.ParsePVEConfig(stringsReader(tc.line + "\n"))
		if err != nil {
			t.Fatalf("ParsePVEConfig(%q): %v", tc.line, err)
		}
		if !reflect.DeepEqual(cfg.Agent, tc.want) {
			t.Errorf("ParsePVEConfig(%q).Agent = %v, want %v", tc.line, show(cfg.Agent), show(tc.want))
		}
	}
}

func show(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestPVEIPConfig(t *testing.T) {
	tests := []struct {
		line string
		want *qemuhost.PVEIPConfig // nil: the entry is rejected
	}{
		{"ipconfig0: ip=192.0.2.5/24,gw=192.0.2.1", &qemuhost.PVEIPConfig{Addrs: addrs("192.0.2.5"), Gateways: addrs("192.0.2.1")}},
		{"ipconfig0: ip6=2001:db8::5/64,gw6=2001:db8::1", &qemuhost.PVEIPConfig{Addrs: addrs("2001:db8::5"), Gateways: addrs("2001:db8::1")}},
		{"ipconfig0: ip=dhcp", &qemuhost.PVEIPConfig{}},
		{"ipconfig0: ip6=auto,ip=192.0.2.5/24", &qemuhost.PVEIPConfig{Addrs: addrs("192.0.2.5")}},
		{"ipconfig0: ip=192.0.2.5", nil},                                  // not CIDR
		{"ipconfig0: ip=2001:db8::5/64", nil},                             // wrong family
		{"ipconfig0: gw=192.0.2.1", nil},                                  // gateway without address
		{"ipconfig0: ip=dhcp,gw=192.0.2.1", nil},                          // gateway with DHCP
		{"ipconfig0: ip6=auto,gw6=2001:db8::1", nil},                      // gateway with SLAAC
		{"ipconfig0: ip=192.0.2.5/24,gw=2001:db8::1", nil},                // gateway of the other family
		{"ipconfig0: ip=192.0.2.5/24,dns=192.0.2.53", nil},                // unknown key
		{"ipconfig0: ip=0.0.0.0/0,gw=224.0.0.1", &qemuhost.PVEIPConfig{}}, // parsed, but nothing probe-able
		{"ipconfig-1: ip=192.0.2.5/24", nil},
	}
	for _, tc := range tests {
		cfg, err := qemuhost.ParsePVEConfig(stringsReader(tc.line + "\n"))
		if err != nil {
			t.Fatalf("ParsePVEConfig(%q): %v", tc.line, err)
		}
		got, ok := cfg.IPConfigs[0]
		switch {
		case tc.want == nil && ok:
			t.Errorf("ParsePVEConfig(%q).IPConfigs[0] = %+v, want none", tc.line, got)
		case tc.want != nil && !reflect.DeepEqual(got, *tc.want):
			t.Errorf("ParsePVEConfig(%q).IPConfigs[0] = %+v, want %+v", tc.line, got, *tc.want)
		}
	}
}

func TestPVECloudInitDrive(t *testing.T) {
	for line, want := range map[string]bool{
		"ide2: local-lvm:vm-104-cloudinit,media=cdrom":        true,
		"scsi1: local:104/vm-104-cloudinit.qcow2,media=cdrom": true,
		"sata0: ceph:cloudinit":                               true,
		"ide2: local:iso/debian-12.iso,media=cdrom":           false,
		"ide2: none,media=cdrom":                              false,
		"net0: virtio=bc:24:11:00:00:01,bridge=cloudinit":     false,
	} {
		cfg, err := qemuhost.ParsePVEConfig(stringsReader(line + "\n"))
		if err != nil || cfg.CloudInit != want {
			t.Errorf("ParsePVEConfig(%q).CloudInit = %v, %v; want %v", line, cfg.CloudInit, err, want)
		}
	}
}
