package qemuhost

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/digitalocean/go-qemu/qemu"

	"github.com/vmcheck/vmcheck/model"
)

func TestRunState(t *testing.T) {
	tests := []struct {
		in   qemu.Status
		want model.RunState
	}{
		{qemu.StatusRunning, model.Running},
		{qemu.StatusPaused, model.Paused},
		{qemu.StatusSuspended, model.Paused},
		{qemu.StatusIOError, model.Paused},
		{qemu.StatusWatchdog, model.Paused},
		{qemu.StatusInMigrate, model.Paused},
		{qemu.StatusPostMigrate, model.Paused},
		{qemu.StatusFinishMigrate, model.Paused},
		{qemu.StatusPreLaunch, model.Paused},
		{qemu.StatusSaveVM, model.Paused},
		{qemu.StatusRestoreVM, model.Paused},
		{qemu.StatusDebug, model.Paused},
		{qemu.StatusInternalError, model.Paused},
		{qemu.StatusShutdown, model.Other},
		{qemu.StatusGuestPanicked, model.Other},
	}
	for _, tc := range tests {
		if got := runState(tc.in); got != tc.want {
			t.Errorf("runState(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestChardevPath(t *testing.T) {
	tests := []struct {
		in        string
		path      string
		connected bool
		ok        bool
	}{
		// QEMU 7.2, seen in the lab.
		{"disconnected:unix:/var/run/qemu-server/101.qga,server=on", "/var/run/qemu-server/101.qga", false, true},
		{"unix:/var/run/qemu-server/101.qga,server=on", "/var/run/qemu-server/101.qga", true, true},
		// Older QEMU wrote ",server".
		{"disconnected:unix:/run/a.sock,server", "/run/a.sock", false, true},
		{"file", "", false, false},
		{"disconnected:tcp:127.0.0.1:4444,server=on", "", false, false},
		{"pty:/dev/pts/3", "", false, false},
	}
	for _, tc := range tests {
		p, c, ok := chardevPath(tc.in)
		if p != tc.path || c != tc.connected || ok != tc.ok {
			t.Errorf("chardevPath(%q) = %q, %v, %v; want %q, %v, %v", tc.in, p, c, ok, tc.path, tc.connected, tc.ok)
		}
	}
}

func TestDerivedUUID(t *testing.T) {
	a, b := derivedUUID("/run/qemu/a.qmp"), derivedUUID("/run/qemu/b.qmp")
	if a == b || a != derivedUUID("/run/qemu//a.qmp") {
		t.Errorf("derivedUUID: %s, %s: want distinct per socket, stable per path", a, b)
	}
	if len(a) != 36 || a[14] != '5' || (a[19] != '8' && a[19] != '9' && a[19] != 'a' && a[19] != 'b') {
		t.Errorf("derivedUUID = %s, want a version 5, RFC 4122 variant UUID", a)
	}
}

func TestLessID(t *testing.T) {
	ids := []string{"1000", "99", "b", "101", "a", "9"}
	want := []string{"9", "99", "101", "1000", "a", "b"}
	for i := range ids {
		for j := range ids {
			got := lessID(ids[i], ids[j])
			exp := index(want, ids[i]) < index(want, ids[j])
			if got != exp {
				t.Errorf("lessID(%q, %q) = %v, want %v", ids[i], ids[j], got, exp)
			}
		}
	}
}

func index(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestNICsPlatformFacts(t *testing.T) {
	conf, ok, err := ReadPVEConfig("testdata/pve", "104")
	if err != nil || !ok {
		t.Fatalf("ReadPVEConfig(104) = %v, %v", ok, err)
	}
	vm := VM{ID: "104", QMP: "/nonexistent/104.qmp"}
	want := []string{
		"bc:24:11:5e:7a:01 tap104i0 link_down=false expected=[{192.0.2.5 proxmox} {2001:db8::5 proxmox}] gateways=[{192.0.2.1 proxmox} {2001:db8::1 proxmox}]",
		"bc:24:11:5e:7a:02 tap104i1 link_down=true expected=[] gateways=[]",
		"bc:24:11:5e:7a:03 tap104i2 link_down=false expected=[] gateways=[]", // ipconfig2 is invalid
	}
	if got := nicFacts(nics(vm, conf, true, nil)); !reflect.DeepEqual(got, want) {
		t.Errorf("nics(104) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	conf.CloudInit = false // ipconfigN without a cloud-init drive configures nothing
	if got := nicFacts(nics(vm, conf, true, nil)); strings.Contains(strings.Join(got, ""), "proxmox") {
		t.Errorf("nics(104 without cloud-init drive) = %s, want no expected addresses", got)
	}
}

func nicFacts(ns []model.NIC) []string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s %s link_down=%v expected=%v gateways=%v", n.MAC, n.Device, n.LinkDown, n.Expected, n.Gateways))
	}
	return out
}
