package qemuhost_test

import (
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
				{Index: 0, Model: "virtio", MAC: "bc:24:11:2e:c8:9b", Bridge: "vmbr0"},
				{Index: 1, Model: "e1000", MAC: "bc:24:11:aa:bb:cc", Bridge: "vmbr1"},
				{Index: 10, Model: "rtl8139", MAC: "bc:24:11:00:00:0a"},
			},
		}},
		{"102", true, qemuhost.PVEConfig{
			Name:  "nat-box",
			UUID:  "2f1c0d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
			Agent: ptr(false),
			NICs: []qemuhost.PVENIC{
				{Index: 0, Model: "virtio"}, // NAT: no bridge; MAC left to QEMU
				{Index: 1, Model: "e1000", Bridge: "vmbr0"},
			},
		}},
		{"103", true, qemuhost.PVEConfig{}},
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
