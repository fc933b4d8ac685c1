package hostnic

import (
	"context"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// TestInspectBridge lays out /sys/class/net in a temporary directory: a tap
// vnet0 (libvirt's address for 52:54:00:00:00:01) in bridge vcpub0, and
// variations of it.
func TestInspectBridge(t *testing.T) {
	const mac, tapAddr = "52:54:00:00:00:01", "fe:54:00:00:00:01"
	tests := []struct {
		name              string
		tapOper, tapFlags string
		master            string
		addr              string
		brFlags           string
		known             bool
		code              model.Code
		detail            string
	}{
		{name: "healthy", tapOper: "up", tapFlags: flagsUp, master: "vcpub0", known: true},
		{name: "tap down", tapOper: "down", tapFlags: flagsDown, master: "vcpub0", known: true, code: model.CodeHostTapDown, detail: "ip link set vnet0 up"},
		{name: "no carrier", tapOper: "down", tapFlags: flagsUp, master: "vcpub0", known: true, code: model.CodeHostTapDown, detail: "is down on the node"},
		{name: "in no bridge", tapOper: "up", tapFlags: flagsUp, known: true, code: model.CodeHostTapDown, detail: "ip link set vnet0 master vcpub0 up"},
		{name: "another bridge", tapOper: "up", tapFlags: flagsUp, master: "virbr9", known: true, code: model.CodeHostTapDown, detail: "is in virbr9 on the node, not in vcpub0"},
		{name: "on Open vSwitch", tapOper: "up", tapFlags: flagsUp, master: "ovs-system", detail: "Open vSwitch"},
		{name: "another NIC's tap", tapOper: "down", tapFlags: flagsDown, master: "vcpub0", addr: "fe:54:00:00:00:99", detail: "not this NIC's tap"},
		{name: "bridge set down", tapOper: "up", tapFlags: flagsUp, master: "vcpub0", brFlags: flagsDown, known: true, code: model.CodeHostTapDown, detail: "ip link set vcpub0 up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			addr := tapAddr
			if tt.addr != "" {
				addr = tt.addr
			}
			fakeLink(t, sys, "vnet0", addr, tt.tapOper, tt.tapFlags, tt.master)
			brFlags := flagsUp
			if tt.brFlags != "" {
				brFlags = tt.brFlags
			}
			fakeLink(t, sys, "vcpub0", "52:54:00:ff:00:00", "up", brFlags, "")
			o := Options{SysNet: sys}
			hs := o.Inspector(NIC{Kind: model.HostKindBridge, MAC: mac, Device: "vnet0", Bridge: "vcpub0"}).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindBridge, tt.known, tt.code, tt.detail)
		})
	}
	t.Run("not in the taps' namespace", func(t *testing.T) {
		hs := Options{SysNet: t.TempDir()}.Inspector(NIC{Kind: model.HostKindBridge, MAC: mac, Device: "vnet0", Bridge: "vcpub0"}).InspectHost(context.Background())
		checkSide(t, hs, model.HostKindBridge, false, "", "network namespace")
	})
	t.Run("a name that is a path", func(t *testing.T) {
		hs := Options{SysNet: t.TempDir()}.Inspector(NIC{Kind: model.HostKindBridge, MAC: mac, Device: "../x", Bridge: "vcpub0"}).InspectHost(context.Background())
		checkSide(t, hs, model.HostKindBridge, false, "", "")
	})
}

// checkSide checks a HostSide's kind, whether it is known, its fault's
// code ("" for none) and a part of its detail (or of its note when it has
// no fault).
func checkSide(t *testing.T, hs model.HostSide, kind string, known bool, code model.Code, part string) {
	t.Helper()
	if hs.Kind != kind || hs.Known != known {
		t.Fatalf("HostSide %+v: want kind %s known %v", hs, kind, known)
	}
	got := model.Code("")
	text := hs.Note
	if hs.Fault != nil {
		got, text = hs.Fault.Code, hs.Fault.Detail
	}
	if got != code {
		t.Fatalf("fault %v (facts %q, note %q), want %q", hs.Fault, hs.Facts, hs.Note, code)
	}
	if !known && hs.Fault != nil {
		t.Errorf("an unknown host side carries a fault: %+v", hs)
	}
	if !strings.Contains(text, part) {
		t.Errorf("detail/note %q, want it to contain %q", text, part)
	}
	if known && len(hs.Facts) == 0 {
		t.Errorf("a known host side without facts: %+v", hs)
	}
}
