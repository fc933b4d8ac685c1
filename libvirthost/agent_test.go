//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/guestagent"
)

// The messages are libvirt's, as virsh prints them (the code's prefix,
// e.g. "internal error: ", is part of Message).
func TestMapLibvirtError(t *testing.T) {
	lv := func(code libvirt.ErrorNumber, msg string) error {
		return libvirt.Error{Code: code, Domain: libvirt.FROM_QEMU, Message: msg, Level: libvirt.ERR_ERROR}
	}
	tests := []struct {
		name     string
		err      error
		sentinel error  // nil: none
		command  string // non-empty: want *Error for this command
		desc     string
	}{
		{"not connected", lv(libvirt.ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: QEMU guest agent is not connected"), guestagent.ErrUnresponsive, "", ""},
		{"timeout", lv(libvirt.ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: Guest agent not available for now"), guestagent.ErrUnresponsive, "", ""},
		{"broken after big reply", lv(libvirt.ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: QEMU guest agent is not available due to an error"), guestagent.ErrUnresponsive, "", ""},
		{"agent job busy", lv(libvirt.ERR_OPERATION_TIMEOUT, "Timed out during operation: cannot acquire state change lock (held by agent=remoteDispatchDomainQemuAgentCommand)"), guestagent.ErrUnresponsive, "", ""},
		{"no channel", lv(libvirt.ERR_ARGUMENT_UNSUPPORTED, "argument unsupported: QEMU guest agent is not configured"), guestagent.ErrNoChannel, "", ""},
		{"not running", lv(libvirt.ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running"), guestagent.ErrDomainNotRunning, "", ""},
		{"no domain", lv(libvirt.ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '6f1c5ab0-0000-0000-0000-000000000000'"), guestagent.ErrDomainNotRunning, "", ""},
		{"too large", lv(libvirt.ERR_SYSTEM_ERROR, "No complete agent response found in 10485760 bytes: Numerical result out of range"), guestagent.ErrReplyTooLarge, "", ""},
		{"rpc too large", libvirt.Error{Code: libvirt.ERR_RPC, Domain: libvirt.FROM_RPC, Message: "Unable to encode message payload"}, guestagent.ErrReplyTooLarge, "", ""},
		{"disabled", lv(libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-exec': Command guest-exec has been disabled"), guestagent.ErrCommandDisabled, "guest-exec", "Command guest-exec has been disabled"},
		{"not found", lv(libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-network-get-route': The command guest-network-get-route has not been found"), guestagent.ErrCommandNotFound, "guest-network-get-route", "The command guest-network-get-route has not been found"},
		{"spawn", lv(libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-exec': Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"), nil, "guest-exec", "Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"},
		{"no desc", lv(libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-info'"), nil, "guest-info", ""},
		{"other internal", lv(libvirt.ERR_INTERNAL_ERROR, "internal error: Missing agent reply object"), nil, "", ""},
		{"connection", libvirt.Error{Code: libvirt.ERR_SYSTEM_ERROR, Domain: libvirt.FROM_RPC, Message: "Cannot recv data: Connection reset by peer"}, nil, "", ""},
	}
	sentinels := []error{guestagent.ErrUnresponsive, guestagent.ErrNoChannel, guestagent.ErrDomainNotRunning, guestagent.ErrReplyTooLarge, guestagent.ErrCommandDisabled, guestagent.ErrCommandNotFound}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapLibvirtError(tt.err)
			for _, s := range sentinels {
				if want := s == tt.sentinel; errors.Is(got, s) != want {
					t.Errorf("mapLibvirtError(%v): errors.Is(%v) = %v, want %v", tt.err, s, !want, want)
				}
			}
			var lerr libvirt.Error
			if !errors.As(got, &lerr) || lerr.Message != tt.err.(libvirt.Error).Message {
				t.Errorf("mapLibvirtError(%v) = %v: the libvirt error is not in the chain", tt.err, got)
			}
			var ae *guestagent.Error
			if isAgent := errors.As(got, &ae); isAgent != (tt.command != "") {
				t.Fatalf("mapLibvirtError(%v) = %#v: agent error %v, want %v", tt.err, got, isAgent, tt.command != "")
			}
			if ae != nil && (ae.Command != tt.command || ae.Desc != tt.desc || ae.Class != "") {
				t.Errorf("mapLibvirtError(%v) = %+v, want command %q desc %q", tt.err, ae, tt.command, tt.desc)
			}
		})
	}
	if err := errors.New("plain"); mapLibvirtError(err) != err {
		t.Errorf("mapLibvirtError changed a non-libvirt error")
	}
}

func TestAgentTimeout(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		left time.Duration // 0: no deadline
		want libvirt.DomainQemuAgentCommandTimeout
	}{
		{"no deadline", 0, libvirt.DOMAIN_QEMU_AGENT_COMMAND_DEFAULT},
		{"rounds up", 2100 * time.Millisecond, 3},
		{"whole", 5 * time.Second, 5},
		{"at least 1", 10 * time.Millisecond, 1},
		{"past", -time.Second, 1},
	}
	for _, tt := range tests {
		ctx := context.Background()
		if tt.left != 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, now.Add(tt.left))
			defer cancel()
		}
		if got := agentTimeout(ctx, now); got != tt.want {
			t.Errorf("%s: agentTimeout() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A pool without a reachable libvirt fails the call, and a context that is
// already done is reported as unresponsive without dialling.
func TestPoolContextDone(t *testing.T) {
	p := NewPool("test:///default", 2)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Transport("00000000-0000-0000-0000-000000000000").Command(ctx, []byte(`{"execute":"guest-ping"}`))
	if !errors.Is(err, guestagent.ErrUnresponsive) || !errors.Is(err, context.Canceled) {
		t.Errorf("Command(cancelled ctx) error = %v, want ErrUnresponsive and Canceled", err)
	}
}

// libvirt's test driver has no guest agent; it is enough to exercise the
// pool's connection handling without libvirtd.
func TestPoolTestDriver(t *testing.T) {
	p := NewPool("test:///default", 1)
	tr := p.Transport("6695eb01-f6a4-8304-79aa-97f2502e193f") // the test driver's "test" domain
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		_, err := tr.Command(ctx, []byte(`{"execute":"guest-ping"}`))
		if err == nil {
			t.Fatalf("Command() on the test driver: no error")
		}
		t.Logf("test driver: %v", err)
	}
	if n := len(p.idle); n != 1 {
		t.Errorf("pool holds %d idle connections, want 1", n)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if _, err := tr.Command(ctx, []byte(`{"execute":"guest-ping"}`)); err == nil {
		t.Errorf("Command() after Close: no error")
	}
	_, err := p.Transport("00000000-0000-0000-0000-000000000000").Command(ctx, []byte(`{}`))
	if err == nil {
		t.Errorf("Command() after Close: no error")
	}
}
