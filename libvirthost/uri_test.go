package libvirthost

import "testing"

func TestRemoteURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"qemu:///system": false, "qemu+unix:///system?socket=/var/tmp/vmcheck-lab/run/libvirt-sock": false, "test:///default": false,
		"qemu+ssh://root@node1/system": true, "qemu+tls://node1.example.test/system": true, "qemu://node1/system": true, "::": true,
	} {
		if got := remoteURI(uri); got != want {
			t.Errorf("remoteURI(%q) = %v, want %v", uri, got, want)
		}
	}
}
