//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
)

// TestPlainFailure: a libvirt failure reads as one sentence — what failed,
// the URI, what to check, libvirt's own message — never as libvirt-go's
// virError(Code=…), and keeps the libvirt error in its chain.
func TestPlainFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"no socket", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Domain: libvirt.FROM_RPC, Message: "Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory"},
			[]string{`connecting to libvirt at "qemu:///system" failed: nothing listens at its socket`, "libvirt said: Failed to connect socket"}},
		{"permission", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Domain: libvirt.FROM_RPC, Message: "Failed to connect socket to '/run/libvirt/libvirt-sock': Permission denied"},
			[]string{"this user may not use libvirt", "Permission denied"}},
		{"TLS CA file missing is no socket", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Domain: libvirt.FROM_RPC, Message: "Cannot read CA certificate '/etc/pki/CA/cacert.pem': No such file or directory"},
			[]string{"this URI reaches a remote host over TLS", "libvirt said: Cannot read CA certificate"}},
		{"no such file elsewhere is no socket", libvirt.Error{Code: libvirt.ERR_OPERATION_FAILED, Domain: libvirt.FROM_QEMU, Message: "cannot open '/x': No such file or directory"},
			[]string{"check that libvirtd (or virtqemud) is running", "libvirt said: cannot open"}},
		{"escapes in the message", libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Message: "bad\x1b[2J\nthing"},
			[]string{"check that libvirtd (or virtqemud) is running", "libvirt said: bad [2J thing"}},
	}
	for _, tt := range tests {
		uri := "qemu:///system"
		if strings.HasPrefix(tt.name, "TLS") {
			uri = "bogus://x"
		}
		err := plainFailure("connecting to", uri, tt.err)
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not contain %q", tt.name, msg, w)
			}
		}
		if strings.Contains(msg, "nothing listens") && !strings.HasPrefix(tt.name, "no socket") {
			t.Errorf("%s: %q blames a socket", tt.name, msg)
		}
		if strings.Contains(msg, "virError") || strings.ContainsAny(msg, "\n\x1b") {
			t.Errorf("%s: %q", tt.name, msg)
		}
		var lerr libvirt.Error
		if !errors.As(err, &lerr) {
			t.Errorf("%s: the libvirt error is not in the chain", tt.name)
		}
	}
	// Not a libvirt error (a deadline): wrapped as it is.
	if err := plainFailure("listing the domains of", "qemu:///system", context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("plainFailure(deadline) = %v", err)
	}
}
