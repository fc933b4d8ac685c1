// Package agenttest provides fake guest agents behind guestagent.Transport,
// for tests and for the simulator in bench/sim.
//
// New turns a closure into an agent, like go-qemu's qmptest: the closure
// receives each command's name and arguments and answers with a Go value
// (sent as the reply's "return" member) or an error. Guest adds what a
// real agent keeps between commands — processes started with guest-exec
// and files opened with guest-file-open — with qemu-ga's semantics, so
// that every fake shares one implementation of them. Load and Replay serve
// the transcripts captured from real agents (testdata/qga).
package agenttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Func answers one agent command: cmd is its name ("guest-exec"), args its
// "arguments" member as sent (nil when there is none).
//
// It returns the value of the reply's "return" member, or an error. The
// value is encoded with encoding/json, except that nil stands for the
// empty object {} and a json.RawMessage is sent as it is (which lets a
// test send a captured or a malformed reply). A *guestagent.Error (also
// wrapped) is sent as the agent's error reply {"error":{"class","desc"}};
// any other error is a transport failure, returned by Command as it is:
// wrap guestagent.ErrUnresponsive, ErrNoChannel, ErrDomainNotRunning or
// ErrReplyTooLarge as a real Transport does.
type Func func(cmd string, args json.RawMessage) (any, error)

// ContextFunc is Func with the request's context, for an agent that takes
// time or hangs: it should return an error wrapping
// guestagent.ErrUnresponsive and ctx.Err() once ctx is done, as a real
// Transport does.
type ContextFunc func(ctx context.Context, cmd string, args json.RawMessage) (any, error)

// Agent is a fake guest agent: a guestagent.Transport that decodes each
// request, answers it with its closure and encodes the answer as the
// agent's reply. It counts the commands it was sent. It is safe for
// concurrent use if its closure is.
type Agent struct {
	f ContextFunc

	mu    sync.Mutex
	calls map[string]int
}

var _ guestagent.Transport = (*Agent)(nil)

// New returns an agent that answers every command with f.
func New(f Func) *Agent {
	return NewContext(func(_ context.Context, cmd string, args json.RawMessage) (any, error) {
		return f(cmd, args)
	})
}

// NewContext returns an agent that answers every command with f, passing
// it the request's context.
func NewContext(f ContextFunc) *Agent {
	return &Agent{f: f, calls: make(map[string]int)}
}

// Command implements guestagent.Transport.
func (a *Agent) Command(ctx context.Context, request []byte) ([]byte, error) {
	var req struct {
		Execute   string          `json:"execute"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(request, &req); err != nil {
		return nil, fmt.Errorf("agenttest: request %q is not a JSON object: %w", request, err)
	}
	if req.Execute == "" {
		return nil, fmt.Errorf("agenttest: request %q has no execute member", request)
	}
	a.mu.Lock()
	a.calls[req.Execute]++
	a.mu.Unlock()
	v, err := a.f(ctx, req.Execute, req.Arguments)
	var ae *guestagent.Error
	switch {
	case errors.As(err, &ae):
		return errorReply(ae)
	case err != nil:
		return nil, err
	}
	return returnReply(v)
}

// Calls returns how many times the agent was sent cmd.
func (a *Agent) Calls(cmd string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[cmd]
}

// returnReply encodes {"return": v}.
func returnReply(v any) ([]byte, error) {
	var raw []byte
	switch v := v.(type) {
	case nil:
		raw = []byte("{}")
	case json.RawMessage:
		raw = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("agenttest: encode return value %T: %w", v, err)
		}
		raw = b
	}
	reply := make([]byte, 0, len(raw)+len(`{"return":}`))
	reply = append(reply, `{"return":`...)
	reply = append(reply, raw...)
	return append(reply, '}'), nil
}

// errorReply encodes the agent's error reply for e.
func errorReply(e *guestagent.Error) ([]byte, error) {
	type desc struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	}
	b, err := json.Marshal(struct {
		Error desc `json:"error"`
	}{desc{e.Class, e.Desc}})
	if err != nil {
		return nil, fmt.Errorf("agenttest: encode error reply: %w", err)
	}
	return b, nil
}

// Returns is a Func that answers every command with v.
func Returns(v any) Func {
	return func(string, json.RawMessage) (any, error) { return v, nil }
}

// NotFound is qemu-ga's error for a command it does not know.
func NotFound(cmd string) *guestagent.Error {
	return &guestagent.Error{Class: "CommandNotFound", Desc: fmt.Sprintf("The command %s has not been found", cmd)}
}

// SpawnFailure is qemu-ga's error for a guest-exec whose program cannot be
// started, as a Linux agent reports cmd.exe.
func SpawnFailure(path string) *guestagent.Error {
	return &guestagent.Error{Class: "GenericError",
		Desc: fmt.Sprintf("Guest agent command failed, error was 'Failed to execute child process “%s” (No such file or directory)'", path)}
}

// genericError is qemu-ga's GenericError with desc.
func genericError(format string, args ...any) *guestagent.Error {
	return &guestagent.Error{Class: "GenericError", Desc: fmt.Sprintf(format, args...)}
}
