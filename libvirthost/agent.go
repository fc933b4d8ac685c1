//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Pool is the guest agent Transport of libvirt hosts: it hands each agent call its own read-write connection to one
// libvirt URI. libvirtd serves at most max_client_requests (default 5)
// calls of one client at a time, and an agent that does not answer holds
// its call for the whole timeout, so calls must not queue behind each other
// on one shared connection. Finished calls return their connection to the
// pool, which keeps at most maxIdle of them open.
//
// A Pool is safe for concurrent use.
type Pool struct {
	uri     string
	maxIdle int

	mu     sync.Mutex
	idle   []*libvirt.Connect
	closed bool
}

// NewPool returns a pool of connections to uri (e.g.
// "qemu:///system") that keeps up to maxIdle idle connections open.
// Connections are opened on demand.
func NewPool(uri string, maxIdle int) *Pool {
	return &Pool{uri: uri, maxIdle: max(maxIdle, 0)}
}

// Transport returns the Transport to the agent of the domain with the given
// UUID.
//
// Each Command runs virDomainQemuAgentCommand with a timeout of the time
// left on ctx, rounded up to whole seconds and at least 1, or libvirt's
// default (5 s) when ctx has no deadline. Before every command libvirt sends
// its own guest-sync with a limit of 5 s, so an agent that is not there
// costs up to 5 s more than the timeout; Command therefore also watches ctx
// and, when ctx ends first, returns at once with an error wrapping
// guestagent.ErrUnresponsive and ctx.Err(). The libvirt call cannot be cancelled: it
// finishes in the background, and only then is its connection returned to
// the pool.
func (p *Pool) Transport(uuid string) guestagent.Transport {
	return guestagent.TransportFunc(func(ctx context.Context, request []byte) ([]byte, error) {
		return p.command(ctx, uuid, request)
	})
}

// Close closes the idle connections. Calls still running close their
// connection when they finish; later calls fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		if _, err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close libvirt connections to %q: %w", p.uri, err)
	}
	return nil
}

type agentResult struct {
	reply []byte
	err   error
}

func (p *Pool) command(ctx context.Context, uuid string, request []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: not sent: %w", guestagent.ErrUnresponsive, err)
	}
	timeout := agentTimeout(ctx, time.Now())
	done := make(chan agentResult, 1) // buffered: the goroutine never blocks
	go func() {
		reply, err := p.run(uuid, string(request), timeout)
		done <- agentResult{reply, err}
	}()
	select {
	case r := <-done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: no reply in time: %w", guestagent.ErrUnresponsive, ctx.Err())
	}
}

// agentTimeout is the timeout to hand virDomainQemuAgentCommand: the time
// left on ctx in whole seconds, rounded up and at least 1, or the default
// without a deadline.
func agentTimeout(ctx context.Context, now time.Time) libvirt.DomainQemuAgentCommandTimeout {
	deadline, ok := ctx.Deadline()
	if !ok {
		return libvirt.DOMAIN_QEMU_AGENT_COMMAND_DEFAULT
	}
	secs := math.Ceil(deadline.Sub(now).Seconds())
	switch {
	case secs < 1:
		secs = 1
	case secs > math.MaxInt32:
		secs = math.MaxInt32
	}
	return libvirt.DomainQemuAgentCommandTimeout(secs)
}

// run performs one agent command on a pooled connection.
func (p *Pool) run(uuid, request string, timeout libvirt.DomainQemuAgentCommandTimeout) ([]byte, error) {
	conn, reused, err := p.get()
	if err != nil {
		return nil, err
	}
	dom, err := conn.LookupDomainByUUIDString(uuid)
	if err != nil && reused && !alive(conn) {
		// An idle connection may have died (libvirtd restarted). The
		// lookup has no side effect, so try once on a fresh connection.
		conn.Close()
		if conn, err = p.dial(); err != nil {
			return nil, err
		}
		dom, err = conn.LookupDomainByUUIDString(uuid)
	}
	if err != nil {
		p.put(conn)
		return nil, fmt.Errorf("look up domain %s: %w", uuid, mapLibvirtError(err))
	}
	reply, err := dom.QemuAgentCommand(request, timeout, 0)
	dom.Free()
	p.put(conn)
	if err != nil {
		return nil, mapLibvirtError(err)
	}
	// Refuse an oversized reply before copying it once more.
	if err := guestagent.CheckReplySize(guestagent.CommandName([]byte(request)), len(reply)); err != nil {
		return nil, err
	}
	return []byte(reply), nil
}

// get takes a live idle connection or opens a new one.
func (p *Pool) get() (conn *libvirt.Connect, reused bool, err error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, false, fmt.Errorf("libvirt pool for %q is closed", p.uri)
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		conn = p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if alive(conn) {
			return conn, true, nil
		}
		conn.Close()
	}
	conn, err = p.dial()
	return conn, false, err
}

func (p *Pool) dial() (*libvirt.Connect, error) {
	conn, err := libvirt.NewConnect(p.uri)
	if err != nil {
		return nil, fmt.Errorf("connect to libvirt %q: %w", p.uri, mapLibvirtError(err))
	}
	return conn, nil
}

// put returns a connection to the pool, or closes it when it is broken,
// the pool is closed or already holds maxIdle idle connections.
func (p *Pool) put(conn *libvirt.Connect) {
	if alive(conn) {
		p.mu.Lock()
		if !p.closed && len(p.idle) < p.maxIdle {
			p.idle = append(p.idle, conn)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	conn.Close()
}

func alive(conn *libvirt.Connect) bool {
	ok, err := conn.IsAlive()
	return err == nil && ok
}

// libvirtError presents a libvirt.Error by its message and keeps it in the
// error chain.
type libvirtError struct{ err libvirt.Error }

// Error reads "libvirt: <message>", the message sanitised and capped: libvirt
// quotes the guest agent in it.
func (e libvirtError) Error() string {
	return "libvirt: " + guestagent.Sanitize(e.err.Message, maxMessageRunes)
}
func (e libvirtError) Unwrap() error { return e.err }

// agentCommandError matches libvirt's report of an error the agent
// returned (qemuAgentCheckError): "unable to execute QEMU agent command
// 'X': DESC", after the "internal error: " prefix of VIR_ERR_INTERNAL_ERROR.
// Bounds on what is made of a libvirt error message.
const (
	maxMatchedMessage = 8 << 10 // bytes searched for an agent error
	maxMessageRunes   = 1000    // runes of the message kept in an error text
)

var agentCommandError = regexp.MustCompile(`(?s)unable to execute QEMU agent command '([^']*)'(?:: (.*))?$`)

// mapLibvirtError turns a libvirt error from an agent call into
// guestagent's errors, keeping the libvirt error in the chain:
//
//   - ERR_AGENT_UNRESPONSIVE ("not connected", "not responding", "not
//     available due to an error"), and ERR_OPERATION_TIMEOUT (another call
//     holds the domain's agent job): guestagent.ErrUnresponsive
//   - ERR_ARGUMENT_UNSUPPORTED, "guest agent is not configured":
//     guestagent.ErrNoChannel
//   - ERR_NO_DOMAIN, ERR_OPERATION_INVALID "domain is not running":
//     guestagent.ErrDomainNotRunning
//   - "No complete agent response found in 10485760 bytes" (libvirt's
//     QEMU_AGENT_MAX_RESPONSE; libvirt also marks the agent broken until it
//     reconnects) and "Unable to encode message payload" (the RPC layer's
//     4 MiB string limit): guestagent.ErrReplyTooLarge
//   - ERR_INTERNAL_ERROR "unable to execute QEMU agent command 'X': DESC":
//     *guestagent.Error{Command: X, Desc: DESC}
//
// A sentinel outcome reads "<sentinel>: libvirt: <message>", the message
// sanitised and capped. An agent error is recognised before libvirt's own
// phrases are looked for: the guest writes its description.
//
// Anything else comes back as an error reading "libvirt: <message>".
func mapLibvirtError(err error) error {
	var lerr libvirt.Error
	if !errors.As(err, &lerr) {
		return err
	}
	cause := libvirtError{lerr}
	msg := lerr.Message
	switch {
	case lerr.Code == libvirt.ERR_AGENT_UNRESPONSIVE, lerr.Code == libvirt.ERR_OPERATION_TIMEOUT:
		return fmt.Errorf("%w: %w", guestagent.ErrUnresponsive, cause)
	case lerr.Code == libvirt.ERR_ARGUMENT_UNSUPPORTED:
		return fmt.Errorf("%w: %w", guestagent.ErrNoChannel, cause)
	case lerr.Code == libvirt.ERR_NO_DOMAIN,
		lerr.Code == libvirt.ERR_OPERATION_INVALID && strings.Contains(msg, "not running"):
		return fmt.Errorf("%w: %w", guestagent.ErrDomainNotRunning, cause)
	}
	// An agent error embeds the guest's own description: recognise it
	// before looking for libvirt's phrases, which the guest could write
	// into that description. Only a bounded head is searched: the
	// description is cut to guestagent.MaxDescRunes anyway.
	if lerr.Code == libvirt.ERR_INTERNAL_ERROR {
		if m := agentCommandError.FindStringSubmatch(msg[:min(len(msg), maxMatchedMessage)]); m != nil {
			return guestagent.NewError(m[1], "", m[2], cause)
		}
	}
	switch {
	case strings.Contains(msg, "guest agent is not configured"):
		return fmt.Errorf("%w: %w", guestagent.ErrNoChannel, cause)
	case strings.Contains(msg, "No complete agent response found"),
		strings.Contains(msg, "Unable to encode message payload"):
		return fmt.Errorf("%w: %w", guestagent.ErrReplyTooLarge, cause)
	}
	return cause
}
