package hostnic

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// TestParseIPLink reads `ip link show dev PF` of PFs with VFs, quoted in
// Linux commit messages (testdata/nic/README.md).
func TestParseIPLink(t *testing.T) {
	tests := []struct {
		file  string
		name  string
		state string
		up    bool
		vfs   []vfInfo
	}{
		{file: "octeon-ep-pf-up.txt", name: "enp135s0", state: "UP", up: true, vfs: []vfInfo{
			{id: 0, mac: "00:00:00:00:00:00", spoofchk: "on", linkState: "enable", trust: "off"},
			{id: 1, mac: "00:00:00:00:00:00", spoofchk: "on", linkState: "enable", trust: "off"}}},
		{file: "i40e-vf-disabled.txt", name: "enp5s0f0", state: "DOWN", vfs: []vfInfo{
			{id: 0, mac: "00:00:00:00:00:00", spoofchk: "on", linkState: "disable", trust: "off"},
			{id: 1, mac: "00:00:00:00:00:00", spoofchk: "on", linkState: "auto", trust: "off"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "nic", "sriov", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			l, err := parseIPLink(b)
			if err != nil {
				t.Fatal(err)
			}
			if l.name != tt.name || l.state != tt.state || slices.Contains(l.flags, "UP") != tt.up || !slices.Equal(l.vfs, tt.vfs) {
				t.Errorf("got %+v, want %s state %s up %v vfs %+v", l, tt.name, tt.state, tt.up, tt.vfs)
			}
		})
	}
	// The line the sfc commit 4392dc690061 quotes, and one with a vlan.
	for line, want := range map[string]vfInfo{
		"vf 0 MAC 12:34:56:78:9a:bc, link-state auto":                                                     {id: 0, mac: "12:34:56:78:9a:bc", linkState: "auto"},
		"vf 3 MAC 00:11:22:33:44:66, vlan 2, spoof checking on, link-state auto, trust off":               {id: 3, mac: "00:11:22:33:44:66", vlan: 2, spoofchk: "on", linkState: "auto", trust: "off"},
		"vf 1     link/ether aa:bb:cc:dd:ee:ff brd ff:ff:ff:ff:ff:ff, vlan 42, qos 3, link-state disable": {id: 1, mac: "aa:bb:cc:dd:ee:ff", vlan: 42, linkState: "disable"},
	} {
		if got, ok := parseVF(line); !ok || got != want {
			t.Errorf("parseVF(%q) = %+v, %v; want %+v", line, got, ok, want)
		}
	}
	for _, bad := range []string{"", "garbage", "5: x"} {
		if _, err := parseIPLink([]byte(bad)); err == nil {
			t.Errorf("parseIPLink(%q): no error", bad)
		}
	}
}

// fakePCI lays out a PF at 0000:03:00.0 with interface pf (its VF 1 at
// 0000:03:10.2) in a fake /sys/bus/pci/devices.
func fakePCI(t *testing.T, pci, pf string) {
	t.Helper()
	pfDir := filepath.Join(pci, "0000:03:00.0")
	for _, d := range []string{filepath.Join(pfDir, "net", pf), filepath.Join(pci, "0000:03:10.0"), filepath.Join(pci, "0000:03:10.2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(pfDir, "virtfn0"):              "../0000:03:10.0",
		filepath.Join(pfDir, "virtfn1"):              "../0000:03:10.2",
		filepath.Join(pci, "0000:03:10.2", "physfn"): "../0000:03:00.0",
		filepath.Join(pci, "0000:03:10.0", "physfn"): "../0000:03:00.0",
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInspectVF: VF 1 at 0000:03:10.2 of a PF whose `ip link show` is a
// cited sample, with the PF up or down in a fake sysfs.
func TestInspectVF(t *testing.T) {
	tests := []struct {
		name            string
		sample, pf      string
		pfOper, pfFlags string
		addr            string
		known           bool
		code            model.Code
		detail          string
	}{
		{name: "healthy (link-state enable)", sample: "octeon-ep-pf-up.txt", pf: "enp135s0", pfOper: "up", pfFlags: flagsUp, known: true},
		{name: "PF set down", sample: "i40e-vf-disabled.txt", pf: "enp5s0f0", pfOper: "down", pfFlags: flagsDown, known: true, code: model.CodeHostVFDown, detail: "ip link set enp5s0f0 up"},
		{name: "PF without link", sample: "octeon-ep-pf-up.txt", pf: "enp135s0", pfOper: "down", pfFlags: flagsUp, known: true, code: model.CodeHostVFDown, detail: "no link (down)"},
		{name: "VF link-state disable", sample: "i40e-vf-disabled.txt", pf: "enp5s0f0", pfOper: "up", pfFlags: flagsUp, addr: "0000:03:10.0", known: true, code: model.CodeHostVFDown, detail: "ip link set enp5s0f0 vf 0 state auto"},
		{name: "not a VF", sample: "octeon-ep-pf-up.txt", pf: "enp135s0", pfOper: "up", pfFlags: flagsUp, addr: "0000:09:00.0", detail: "no PF for 0000:09:00.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pci, sys := t.TempDir(), t.TempDir()
			fakePCI(t, pci, tt.pf)
			fakeLink(t, sys, tt.pf, "00:00:00:01:01:00", tt.pfOper, tt.pfFlags, "")
			var argv []string
			o := Options{SysNet: sys, SysPCI: pci, Run: fileRunner(t, "sriov/"+tt.sample, &argv)}
			addr := "0000:03:10.2"
			if tt.addr != "" {
				addr = tt.addr
			}
			hs := o.Inspector(NIC{Kind: model.HostKindHostdev, MAC: "52:54:00:6d:90:02", PCI: addr}).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindHostdev, tt.known, tt.code, tt.detail)
			if argv != nil && !slices.Equal(argv, []string{"ip", "link", "show", "dev", tt.pf}) {
				t.Errorf("argv %q", argv)
			}
		})
	}
}
