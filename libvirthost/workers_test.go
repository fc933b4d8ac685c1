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

// virt-admin's answer as the lab's libvirtd 9.0 gave it
// (`virt-admin -c ADMIN-URI srv-threadpool-info libvirtd`), and answers
// that name no limit.
func TestParseThreadPool(t *testing.T) {
	lab := "minWorkers     : 5\nmaxWorkers     : 20\nnWorkers       : 9\nfreeWorkers    : 9\nprioWorkers    : 5\njobQueueDepth  : 0\n\n"
	w, err := parseThreadPool("libvirtd", lab)
	if err != nil || w != (Workers{Server: "libvirtd", MaxWorkers: 20, PrioWorkers: 5}) {
		t.Errorf("parseThreadPool(lab) = %+v, %v", w, err)
	}
	for _, bad := range []string{"", "maxWorkers : many\n", "maxWorkers : 0\n", "error: failed to connect\n"} {
		if w, err := parseThreadPool("libvirtd", bad); err == nil {
			t.Errorf("parseThreadPool(%q) = %+v, want an error", bad, w)
		}
	}
}

// virt-admin under an ended context gives up with an error, not a hang.
func TestReadWorkersCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadWorkers(ctx, "qemu+unix:///system?socket=/nonexistent/libvirt-sock"); err == nil {
		t.Error("ReadWorkers with an ended context succeeded")
	}
}
