package guestagent

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for the outcomes callers branch on. Test for them with
// errors.Is; the errors returned by this package wrap them together with the
// underlying cause.
var (
	// ErrNoChannel means the domain has no guest agent channel configured.
	ErrNoChannel = errors.New("domain has no guest agent channel")

	// ErrUnresponsive means the agent did not answer: it is not connected,
	// not running in the guest, hung, or the call ran out of time.
	ErrUnresponsive = errors.New("guest agent is not responding")

	// ErrCommandNotFound means the agent does not know the command (it is
	// too old, or built without it).
	ErrCommandNotFound = errors.New("guest agent command not found")

	// ErrCommandDisabled means the agent knows the command but its
	// configuration blocks it (--block-rpcs, --allow-rpcs, BLACKLIST_RPC)
	// or a filesystem freeze is in progress.
	ErrCommandDisabled = errors.New("guest agent command disabled")

	// ErrDomainNotRunning means the domain does not exist (any more) or is
	// not running.
	ErrDomainNotRunning = errors.New("domain is not running")

	// ErrReplyTooLarge means the agent's reply was larger than the
	// transport (libvirt: 10 MiB; its RPC: 4 MiB per string) or this
	// package accepts.
	ErrReplyTooLarge = errors.New("guest agent reply too large")

	// ErrExecTimeout means a command started with guest-exec did not finish
	// before the context ended. The process may still be running in the
	// guest: the agent cannot kill it.
	ErrExecTimeout = errors.New("guest command did not finish in time")

	// ErrTruncated means the agent's reply held more items than this
	// package keeps (interfaces, addresses, routes, commands, output): the
	// call returns what it kept together with an error wrapping
	// ErrTruncated that says what was cut. Callers may use the partial
	// value and report the note.
	ErrTruncated = errors.New("guest agent reply truncated")
)

// MaxDescRunes caps the agent-supplied error description kept in Error.
const MaxDescRunes = 512

// Error is an error the guest agent returned for a command: the reply's
// {"error":{"class":…,"desc":…}}. Class is empty when the error came through
// libvirt, which keeps only the description. Desc is sanitised.
//
// Error matches ErrCommandNotFound and ErrCommandDisabled with errors.Is
// when its class or description says so.
type Error struct {
	Command string // the command that failed, e.g. "guest-exec"
	Class   string // QMP error class, e.g. "GenericError", "CommandNotFound"
	Desc    string // the agent's description, sanitised

	cause error // the transport error this was decoded from, if any
}

// newError builds an Error from untrusted agent strings.
func newError(command, class, desc string) *Error {
	return &Error{
		Command: Sanitize(command, 64),
		Class:   Sanitize(class, 64),
		Desc:    Sanitize(desc, MaxDescRunes),
	}
}

// NewError returns the *Error for an error the agent returned to command
// that a Transport received in a form of its own (libvirt turns an agent
// error into a libvirt error). command, class and desc are untrusted and
// sanitised as for a decoded reply; class is "" when the transport does
// not say it. cause, if not nil, is the transport's error, returned by
// Unwrap.
func NewError(command, class, desc string, cause error) *Error {
	e := newError(command, class, desc)
	e.cause = cause
	return e
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("agent returned ")
	if e.Class != "" {
		b.WriteString(e.Class)
	} else {
		b.WriteString("an error")
	}
	if e.Desc != "" {
		b.WriteString(": ")
		b.WriteString(e.Desc)
	}
	return b.String()
}

// Is reports whether the agent error means a missing or a disabled
// command. A disabled command comes back with class CommandNotFound and a
// description "Command X has been disabled" (QEMU ≥ 2.x), or with class
// CommandDisabled / "… has been disabled for this instance" (older agents,
// and libvirt's text for that class).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrCommandDisabled:
		return e.disabled()
	case ErrCommandNotFound:
		if e.disabled() {
			return false
		}
		return e.Class == "CommandNotFound" || strings.Contains(e.Desc, "has not been found")
	}
	return false
}

func (e *Error) disabled() bool {
	return e.Class == "CommandDisabled" ||
		strings.Contains(e.Desc, "has been disabled") ||
		strings.Contains(e.Desc, "disabled for this instance")
}

// Unwrap returns the transport error the agent error was decoded from, if
// any (for libvirthost.Pool, the libvirt error).
func (e *Error) Unwrap() error { return e.cause }

// WrapSentinel returns an error that matches both sentinel and cause with
// errors.Is / errors.As, and reads "<sentinel>: <msg>" (or "<sentinel>"
// when msg is empty): how a Transport reports a failure as one of the
// package's sentinels (ErrUnresponsive, ErrNoChannel, ErrReplyTooLarge…).
func WrapSentinel(sentinel, cause error, msg string) error {
	return &sentinelError{sentinel: sentinel, cause: cause, msg: msg}
}

type sentinelError struct {
	sentinel error
	cause    error
	msg      string
}

func (e *sentinelError) Error() string {
	if e.msg == "" {
		return e.sentinel.Error()
	}
	return fmt.Sprintf("%v: %s", e.sentinel, e.msg)
}

func (e *sentinelError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}
