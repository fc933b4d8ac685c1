//go:build cgo

package libvirthost

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/guestagent"
)

// failure is a libvirt call that failed, told in one plain sentence: what
// failed and where, what to check, then libvirt's own message (never
// libvirt-go's "virError(Code=…, Domain=…, Message=…)").
type failure struct {
	what string // "connecting to", "listing the domains of"
	uri  string
	hint string
	err  error // the libvirt.Error
	msg  string
}

// Error implements error.
func (f *failure) Error() string {
	return fmt.Sprintf("%s libvirt at %q failed: %s; libvirt said: %s", f.what, f.uri, f.hint, f.msg)
}

// Unwrap returns the libvirt error.
func (f *failure) Unwrap() error { return f.err }

// plainFailure wraps err, from a call doing what on the libvirt at uri, in a
// failure when it is a libvirt error, with a hint that fits its code.
// Other errors (a deadline) are wrapped as they are.
func plainFailure(what, uri string, err error) error {
	var lerr libvirt.Error
	if !errors.As(err, &lerr) {
		return fmt.Errorf("%s libvirt at %q: %w", what, uri, err)
	}
	return &failure{what: what, uri: uri, hint: hintFor(uri, lerr), err: err, msg: guestagent.Sanitize(lerr.Message, maxMessageRunes)}
}

// hintFor is what to check after the libvirt error lerr on uri: a hint
// only where the error's code, or for a socket the system error libvirt
// reports, supports it. A system error of the RPC layer is blamed on the
// socket only when connecting to it failed; on a URI that reaches a
// remote host over TLS (no +ssh, +unix, +tcp), the TLS set-up is named.
func hintFor(uri string, lerr libvirt.Error) string {
	socket := lerr.Code == libvirt.ERR_SYSTEM_ERROR && lerr.Domain == libvirt.FROM_RPC &&
		(strings.HasPrefix(lerr.Message, "Failed to connect socket") || strings.HasPrefix(lerr.Message, "unable to connect to server"))
	switch {
	case lerr.Code == libvirt.ERR_AUTH_FAILED, lerr.Code == libvirt.ERR_AUTH_CANCELLED, lerr.Code == libvirt.ERR_AUTH_UNAVAILABLE,
		lerr.Code == libvirt.ERR_SYSTEM_ERROR && strings.HasSuffix(lerr.Message, "Permission denied"):
		return "this user may not use libvirt: run vmcheck as root or as a member of the libvirt group"
	case lerr.Code == libvirt.ERR_NO_CONNECT:
		return "no libvirt driver answers that URI: check the URI (qemu:///system for the node's VMs)"
	case remoteTLS(uri):
		return "this URI reaches a remote host over TLS, libvirt's default transport: for this node use qemu:///system, for another one qemu+ssh://HOST/system, or set up libvirt's TLS certificates"
	case socket && (strings.HasSuffix(lerr.Message, "No such file or directory") || strings.HasSuffix(lerr.Message, "Connection refused")):
		return "nothing listens at its socket: check that libvirtd (or virtqemud) is running and that the URI is right"
	}
	return "check that libvirtd (or virtqemud) is running and that the URI is right"
}

// remoteTLS reports whether uri names a remote host reached over TLS:
// a host, and no transport or +tls ("qemu://node7/system").
func remoteTLS(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return false
	}
	_, transport, _ := strings.Cut(u.Scheme, "+")
	return transport == "" || transport == "tls"
}
