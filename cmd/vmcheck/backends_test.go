package main

import (
	"strings"
	"testing"
)

// TestBackendFlags: the backends' flags, made from their options, are
// checked as the flags written by hand were: two backends' are an error
// naming both, an empty --qemu-dir is one.
func TestBackendFlags(t *testing.T) {
	empty := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"two backends", []string{"check", "--connect", "test:///default", "--qemu-dir", empty},
			"--connect (libvirt) and --qemu-dir (QEMU without libvirt) select different backends; give one"},
		{"empty --qemu-dir", []string{"check", "--qemu-dir", ""}, "--qemu-dir: empty directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, msg, _ := run(t, tt.args...); code != 3 || msg != tt.want {
				t.Errorf("vmcheck %s = exit %d, %q; want exit 3, %q", strings.Join(tt.args, " "), code, msg, tt.want)
			}
		})
	}
}
