//go:build cgo

package libvirthost

import (
	"context"
	"strings"
	"testing"
)

// The admin URI follows the socket= of a local URI (libvirtd's or a
// modular daemon's), else tries libvirtd's then virtqemud's; a remote URI
// has none.
func TestAdminURIs(t *testing.T) {
	tests := []struct {
		uri  string
		want string // joined by " "; "" for an error
	}{
		{"qemu:///system", "libvirtd:///system virtqemud:///system"},
		{"qemu:///session", "libvirtd:///session virtqemud:///session"},
		{"qemu+unix:///system?socket=/var/tmp/vmcheck-lab/run/libvirt/libvirt-sock",
			"libvirtd:///system?socket=%2Fvar%2Ftmp%2Fvmcheck-lab%2Frun%2Flibvirt%2Flibvirt-admin-sock"},
		{"qemu+unix:///system?socket=/run/libvirt/virtqemud-sock", "virtqemud:///system?socket=%2Frun%2Flibvirt%2Fvirtqemud-admin-sock"},
		{"qemu+ssh://root@node1/system", ""},
		{"qemu+tcp://node1/system", ""},
		{"test:///default", ""},
		{"qemu:///embed?root=/tmp/x", ""},
		{"qemu+unix:///system?socket=/run/x/odd-name-sock", ""},
	}
	for _, tt := range tests {
		got, err := adminURIs(tt.uri)
		if tt.want == "" {
			if err == nil {
				t.Errorf("adminURIs(%q) = %v, want an error", tt.uri, got)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("adminURIs(%q) = %v, %v; want %s", tt.uri, got, err, tt.want)
		}
	}
}

// A remote URI fails at once, naming why.
func TestReadWorkersRemote(t *testing.T) {
	_, err := ReadWorkers(context.Background(), "qemu+ssh://root@node1/system")
	if err == nil || !strings.Contains(err.Error(), "not local") {
		t.Errorf("err %v, want one saying the URI is not local", err)
	}
}
