package guestagent

import "context"

// Transport carries one request to one domain's guest agent and returns the
// agent's raw reply.
//
// The request is a JSON object {"execute":…,"arguments":…}. The reply is
// the whole reply object, {"return":…} or {"error":{"class":…,"desc":…}}:
// virDomainQemuAgentCommand returns exactly that (libvirt serialises the
// reply object it parsed; src/qemu/qemu_agent.c, qemuAgentArbitraryCommand),
// except that libvirt turns an agent error into a libvirt error, which
// libvirthost.Pool maps back to *Error (NewError).
//
// Command must return promptly once ctx is done, with an error wrapping
// ErrUnresponsive and ctx.Err(). Transport errors should wrap the
// package's sentinels (ErrNoChannel, ErrUnresponsive, ErrDomainNotRunning,
// ErrReplyTooLarge) or *Error where they apply.
type Transport interface {
	Command(ctx context.Context, request []byte) ([]byte, error)
}

// TransportFunc adapts a function to Transport; tests use it for one-off
// fakes.
type TransportFunc func(ctx context.Context, request []byte) ([]byte, error)

// Command calls f(ctx, request).
func (f TransportFunc) Command(ctx context.Context, request []byte) ([]byte, error) {
	return f(ctx, request)
}
