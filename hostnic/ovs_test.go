package hostnic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
)

// TestInspectOVS reads the answers a real Open vSwitch gave
// (testdata/nic/ovs, see its README) for a tap plugged as libvirt plugs
// <virtualport type='openvswitch'> on br-int.
func TestInspectOVS(t *testing.T) {
	const id = "5a7e0c11-3d4f-4b6e-9f0a-2b8c1d3e4f5a"
	tests := []struct {
		file   string
		dev    string
		id     string
		known  bool
		code   model.Code
		detail string
		fact   string
	}{
		{file: "healthy.json", known: true, fact: "OVS interface tap5a7e0c11-3d on bridge br-int"},
		{file: "admin-down.json", known: true, code: model.CodeHostOVSPortDown, detail: "ovs-ofctl mod-port br-int tap5a7e0c11-3d up"},
		{file: "link-down.json", known: true, code: model.CodeHostOVSPortDown, detail: "link_state down"},
		{file: "no-interface.json", dev: "tapnothere-00", known: true, code: model.CodeHostOVSPortDown, detail: "ovs-vsctl --may-exist add-port br-int tapnothere-00"},
		{file: "ofport-missing.json", dev: "tapgone000-00", known: true, code: model.CodeHostOVSPortDown, detail: "ofport -1: Open vSwitch could not open the device (could not open network device tapgone000-00 (No such device))"},
		{file: "wrong-bridge.json", known: true, code: model.CodeHostOVSPortDown, detail: "on bridge br-ex, not on br-int: move it (ovs-vsctl del-port br-ex tap5a7e0c11-3d)"},
		{file: "ovn-healthy.json", known: true, fact: "OVN logical port " + id},
		{file: "healthy.json", id: "00000000-1111-2222-3333-444444444444", known: true, code: model.CodeHostOVSPortDown, detail: "carries iface-id " + id + ", but the domain's port is 00000000-1111-2222-3333-444444444444"},
	}
	for _, tt := range tests {
		t.Run(tt.file+tt.id, func(t *testing.T) {
			dev := "tap5a7e0c11-3d"
			if tt.dev != "" {
				dev = tt.dev
			}
			nicID := id
			if tt.id != "" {
				nicID = tt.id
			}
			var argv []string
			sys := t.TempDir() // the tap is here, this NIC's (libvirt's fe: address)
			fakeLink(t, sys, dev, "fe:54:00:12:34:56", "up", flagsUp, "")
			o := Options{SysNet: sys, OVSDB: "unix:/var/tmp/x/db.sock", Run: fileRunner(t, "ovs/"+tt.file, &argv)}
			n := NIC{Kind: model.HostKindOpenVSwitch, MAC: "52:54:00:12:34:56", Device: dev, Bridge: "br-int", InterfaceID: nicID}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			hs := o.Inspector(n).InspectHost(ctx)
			checkSide(t, hs, model.HostKindOpenVSwitch, tt.known, tt.code, tt.detail)
			if tt.fact != "" && !slices.Contains(hs.Facts, tt.fact) {
				t.Errorf("facts %q, want %q among them", hs.Facts, tt.fact)
			}
			want := []string{"ovs-vsctl", "--db=unix:/var/tmp/x/db.sock", "--timeout=2", "--format=json"}
			if !slices.Equal(argv[:4], want) || !slices.Contains(argv, "name="+dev) {
				t.Errorf("argv %q, want it to start %q and name %s", argv, want, dev)
			}
			for _, a := range argv {
				if slices.Contains([]string{"add-port", "set", "del-port", "remove", "clear"}, a) {
					t.Errorf("argv %q writes to the database (%s)", argv, a)
				}
			}
		})
	}
}

// TestInspectOVSUnknown: no database, a garbled answer, a name vmcheck
// does not pass in an argv: the host side is unknown and names no cause.
func TestInspectOVSUnknown(t *testing.T) {
	n := NIC{Kind: model.HostKindOpenVSwitch, MAC: "52:54:00:12:34:56", Device: "tap5a7e0c11-3d", Bridge: "br-int"}
	noDB := func(context.Context, []string) ([]byte, error) {
		return nil, errors.New("ovs-vsctl: exit status 1: unix:/nonexistent: database connection failed (No such file or directory)")
	}
	garbled := func(context.Context, []string) ([]byte, error) { return []byte(`{"data":[],"headings":[]}`), nil }
	called := false
	never := func(context.Context, []string) ([]byte, error) { called = true; return nil, nil }
	noRow := func(context.Context, []string) ([]byte, error) {
		return os.ReadFile(filepath.Join("..", "testdata", "nic", "ovs", "no-interface.json"))
	}
	for name, c := range map[string]struct {
		run  Runner
		dev  string
		note string
	}{
		"no database":                        {noDB, "", "database connection failed"},
		"no port, no tap here: another OVS?": {noRow, "", "another Open vSwitch"},
		"short answer":                       {garbled, "", "table 2 of 4"},
		"bad name":                           {never, "tap;rm -rf /", "no tap"},
	} {
		t.Run(name, func(t *testing.T) {
			m := n
			if c.dev != "" {
				m.Device = c.dev
			}
			hs := Options{SysNet: t.TempDir(), Run: c.run}.Inspector(m).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindOpenVSwitch, false, "", c.note)
		})
	}
	if called {
		t.Error("ovs-vsctl ran for a name that is not a device name")
	}
}

// TestOVSValues reads the OVSDB JSON encodings ovs-vsctl prints: a set of
// one is its element, an empty set is nothing.
func TestOVSValues(t *testing.T) {
	if s := ovsString([]byte(`["set",[]]`)); s != "" {
		t.Errorf("empty set as string = %q", s)
	}
	if n, ok := ovsInt([]byte(`["set",[]]`)); ok || n != 0 {
		t.Errorf("empty set as int = %d, %v", n, ok)
	}
	if n, ok := ovsInt([]byte(`-1`)); !ok || n != -1 {
		t.Errorf("-1 = %d, %v", n, ok)
	}
	if u := ovsUUIDs([]byte(`["set",[["uuid","a"],["uuid","b"]]]`)); !slices.Equal(u, []string{"a", "b"}) {
		t.Errorf("uuid set = %q", u)
	}
	if m := ovsMap([]byte(`["map",[["iface-id","x"]]]`)); m["iface-id"] != "x" {
		t.Errorf("map = %v", m)
	}
	if _, err := parseOVS([]byte("not json")); err == nil || !strings.Contains(err.Error(), "ovs-vsctl") {
		t.Errorf("garbage: err %v", err)
	}
}
