package libvirthost

import (
	"net/url"
	"os"
)

// ResolveURI returns the libvirt URI to use: uri if set, else
// LIBVIRT_DEFAULT_URI, else qemu:///system, as virsh does.
func ResolveURI(uri string) string {
	if uri != "" {
		return uri
	}
	if env := os.Getenv("LIBVIRT_DEFAULT_URI"); env != "" {
		return env
	}
	return "qemu:///system"
}

// remoteURI reports whether a libvirt URI names another machine
// (qemu+ssh://host/system, qemu+tls://host/system): one with a host part.
// A URI that does not parse is taken for remote: vmcheck then reads no
// host side rather than the wrong one.
func remoteURI(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return true
	}
	return u.Host != ""
}
