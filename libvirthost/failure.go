//go:build cgo

package libvirthost

import (
	"errors"
	"fmt"
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
	hint := "check that libvirtd (or virtqemud) is running and that the URI is right"
	switch {
	case lerr.Code == libvirt.ERR_AUTH_FAILED, lerr.Code == libvirt.ERR_AUTH_CANCELLED,
		strings.Contains(lerr.Message, "Permission denied"):
		hint = "this user may not use libvirt: run vmcheck as root or as a member of the libvirt group"
	case strings.Contains(lerr.Message, "No such file"), strings.Contains(lerr.Message, "Connection refused"):
		hint = "nothing listens at its socket: check that libvirtd (or virtqemud) is running and that the URI is right"
	case lerr.Code == libvirt.ERR_NO_CONNECT:
		hint = "no libvirt driver answers that URI: check the URI (qemu:///system for the node's VMs)"
	}
	return &failure{what: what, uri: uri, hint: hint, err: err, msg: guestagent.Sanitize(lerr.Message, maxMessageRunes)}
}
