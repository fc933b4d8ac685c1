package hostnic

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// TestInspectMacvtap: a macvtap on a lower device (a veth whose peer is
// in a bridge, as in the lab) in a fake /sys/class/net.
func TestInspectMacvtap(t *testing.T) {
	const mac = "52:54:00:00:00:07"
	tests := []struct {
		name                 string
		lowerOper, lowerFlag string
		mvFlag               string
		noLower              bool
		known                bool
		code                 model.Code
		detail               string
	}{
		{name: "healthy", lowerOper: "up", lowerFlag: flagsUp, mvFlag: flagsUp, known: true},
		{name: "lower set down", lowerOper: "down", lowerFlag: flagsDown, mvFlag: flagsUp, known: true, code: model.CodeHostMacvtapLowerDown, detail: "lower device vlow0 is down on the node: bring it up (ip link set vlow0 up)"},
		{name: "lower without link", lowerOper: "lowerlayerdown", lowerFlag: flagsUp, mvFlag: flagsUp, known: true, code: model.CodeHostMacvtapLowerDown, detail: "without link (lowerlayerdown)"},
		{name: "macvtap set down", lowerOper: "up", lowerFlag: flagsUp, mvFlag: flagsDown, known: true, code: model.CodeHostTapDown, detail: "ip link set macvtap0 up"},
		{name: "lower not here", noLower: true, detail: "network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			if !tt.noLower {
				fakeLink(t, sys, "vlow0", "02:00:00:00:00:01", tt.lowerOper, tt.lowerFlag, "")
			}
			fakeLink(t, sys, "macvtap0", mac, "up", tt.mvFlag, "")
			n := NIC{Kind: model.HostKindDirect, MAC: mac, Device: "macvtap0", Lower: "vlow0", Mode: "bridge"}
			hs := Options{SysNet: sys}.Inspector(n).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindDirect, tt.known, tt.code, tt.detail)
			if tt.known && !slices.Contains(hs.Facts, "mode bridge") {
				t.Errorf("facts %q: want the mode", hs.Facts)
			}
		})
	}
}

// TestInspectPVEFirewall lays out Proxmox VE's firewall chain of VM 100's
// net0 on vmbr0: tap100i0 in fwbr100i0, fwln100i0 in fwbr100i0, fwpr100p0
// in vmbr0.
func TestInspectPVEFirewall(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, sys string)
		known  bool
		code   model.Code
		detail string
	}{
		{name: "healthy", known: true},
		{name: "tap out of fwbr", change: func(t *testing.T, sys string) {
			_ = os.Remove(filepath.Join(sys, "tap100i0", "master"))
		}, known: true, code: model.CodeHostTapDown, detail: "ip link set tap100i0 master fwbr100i0 up"},
		{name: "fwpr out of vmbr0", change: func(t *testing.T, sys string) {
			_ = os.Remove(filepath.Join(sys, "fwpr100p0", "master"))
		}, known: true, code: model.CodeHostTapDown, detail: "ip link set fwpr100p0 master vmbr0 up"},
		{name: "fwln down", change: func(t *testing.T, sys string) {
			_ = os.WriteFile(filepath.Join(sys, "fwln100i0", "flags"), []byte(flagsDown), 0o644)
		}, known: true, code: model.CodeHostTapDown, detail: "ip link set fwln100i0 up"},
		{name: "fwbr missing", change: func(t *testing.T, sys string) {
			_ = os.RemoveAll(filepath.Join(sys, "fwbr100i0"))
		}, known: true, code: model.CodeHostTapDown, detail: "qm reboot 100"},
		{name: "not on the node", change: func(t *testing.T, sys string) {
			_ = os.RemoveAll(filepath.Join(sys, "tap100i0"))
		}, detail: "network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			fakeLink(t, sys, "vmbr0", "02:00:00:00:00:0a", "up", flagsUp, "")
			fakeLink(t, sys, "fwbr100i0", "02:00:00:00:00:0b", "up", flagsUp, "")
			fakeLink(t, sys, "tap100i0", "62:a5:10:00:00:01", "unknown", flagsUp, "fwbr100i0")
			fakeLink(t, sys, "fwln100i0", "02:00:00:00:00:0c", "up", flagsUp, "fwbr100i0")
			fakeLink(t, sys, "fwpr100p0", "02:00:00:00:00:0d", "up", flagsUp, "vmbr0")
			if tt.change != nil {
				tt.change(t, sys)
			}
			n := NIC{Kind: model.HostKindProxmoxFirewall, MAC: "bc:24:11:00:00:01", Device: "tap100i0", Bridge: "vmbr0", VMID: "100", Index: "0"}
			hs := Options{SysNet: sys}.Inspector(n).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindProxmoxFirewall, tt.known, tt.code, tt.detail)
		})
	}
}

// TestInspectVhostUser: a socket that exists or not, and the OVS-DPDK
// interface rows of testdata/nic/ovs, looked up as the socket's mode says.
func TestInspectVhostUser(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "vhu6d2adb84-44")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name         string
		socket, mode string
		file         string
		known        bool
		code         model.Code
		detail       string
		query        string // an argument of the ovs-vsctl command
	}{
		{name: "socket missing", socket: filepath.Join(dir, "gone"), mode: "server", known: true, code: model.CodeHostVhostUserDown, detail: "socket " + filepath.Join(dir, "gone") + " of this NIC is missing"},
		{name: "socket dir not visible", socket: "/nonexistent-vmcheck/vhu0", mode: "server", detail: "mount namespace"},
		{name: "OVS-DPDK port not attached", socket: sock, mode: "server", file: "vhostuser-nodpdk.json", known: true, code: model.CodeHostVhostUserDown,
			detail: "Address family not supported by protocol", query: "options:vhost-server-path=" + `"` + sock + `"`},
		{name: "OVS-DPDK port up", socket: sock, mode: "server", file: "vhostuser-up.json", known: true, query: "options:vhost-server-path=" + `"` + sock + `"`},
		{name: "QEMU the client: the port is named after the socket", socket: sock, mode: "client", file: "vhostuser-up.json", known: true, query: "name=vhu6d2adb84-44"},
		{name: "no OVS-DPDK row", socket: sock, mode: "server", file: "no-interface.json", detail: "another vhost-user backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var argv []string
			o := Options{Run: func(context.Context, []string) ([]byte, error) { return nil, os.ErrNotExist }}
			if tt.file != "" {
				o.Run = fileRunner(t, "ovs/"+tt.file, &argv)
			}
			n := NIC{Kind: model.HostKindVhostUser, MAC: "fa:16:3e:e3:07:55", Socket: tt.socket, SocketMode: tt.mode}
			hs := o.Inspector(n).InspectHost(context.Background())
			checkSide(t, hs, model.HostKindVhostUser, tt.known, tt.code, tt.detail)
			if tt.query != "" && !slices.Contains(argv, tt.query) {
				t.Errorf("argv %q lacks %q", argv, tt.query)
			}
			if tt.known && tt.file != "" && !slices.Contains(hs.Facts, "OVS interface vhu6d2adb84-44 on bridge br-int") {
				t.Errorf("facts %q: want the interface found by its socket", hs.Facts)
			}
		})
	}
	t.Run("a path vmcheck does not pass on", func(t *testing.T) {
		if _, ok := vhostQuery(NIC{Socket: "/tmp/a b", SocketMode: "server"}); ok {
			t.Error("a path with a space was accepted")
		}
	})
}
