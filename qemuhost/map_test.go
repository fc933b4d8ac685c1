package qemuhost

import (
	"testing"

	"github.com/digitalocean/go-qemu/qemu"

	"github.com/vmcheck/vmcheck/checker"
)

func TestRunState(t *testing.T) {
	tests := []struct {
		in   qemu.Status
		want checker.RunState
	}{
		{qemu.StatusRunning, checker.Running},
		{qemu.StatusPaused, checker.Paused},
		{qemu.StatusSuspended, checker.Paused},
		{qemu.StatusIOError, checker.Paused},
		{qemu.StatusWatchdog, checker.Paused},
		{qemu.StatusInMigrate, checker.Paused},
		{qemu.StatusPostMigrate, checker.Paused},
		{qemu.StatusFinishMigrate, checker.Paused},
		{qemu.StatusPreLaunch, checker.Paused},
		{qemu.StatusSaveVM, checker.Paused},
		{qemu.StatusRestoreVM, checker.Paused},
		{qemu.StatusDebug, checker.Paused},
		{qemu.StatusInternalError, checker.Paused},
		{qemu.StatusShutdown, checker.Other},
		{qemu.StatusGuestPanicked, checker.Other},
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
