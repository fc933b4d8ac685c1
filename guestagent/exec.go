package guestagent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vmcheck/vmcheck/internal/timing"
)

// Command is a program for the agent to start in the guest (guest-exec).
// The agent searches PATH for Path, runs it without a shell and without a
// time limit, and cannot kill it later.
type Command struct {
	Path          string   // program name or path, e.g. "ping" or "ping.exe"
	Args          []string // arguments, without the program name
	Env           []string // "NAME=value" entries; empty keeps the agent's environment
	Input         []byte   // written to the program's standard input
	CaptureOutput bool     // collect stdout and stderr (returned once it exits)
}

// ExecStatus is the state of a process started with guest-exec.
type ExecStatus struct {
	Exited          bool
	ExitCode        *int   // set when the process exited normally
	Signal          *int   // POSIX signal, or on Windows an NTSTATUS ≥ 0xC0000000 (an unhandled exception)
	Stdout, Stderr  []byte // decoded output; only after exit and only with CaptureOutput
	StdoutTruncated bool   // the agent (16 MiB), MaxOutput or Wait's limit cut stdout
	StderrTruncated bool
}

// execArgs is the guest-exec argument object. capture-output is sent as a
// bool: agents before QEMU 8.0 reject the newer mode strings.
type execArgs struct {
	Path          string   `json:"path"`
	Arg           []string `json:"arg,omitempty"`
	Env           []string `json:"env,omitempty"`
	InputData     string   `json:"input-data,omitempty"`
	CaptureOutput bool     `json:"capture-output"`
}

// Exec starts cmd in the guest (guest-exec) and returns its pid.
func (c *Client) Exec(ctx context.Context, cmd Command) (int64, error) {
	if cmd.Path == "" {
		return 0, errors.New("guest-exec: empty path")
	}
	args := execArgs{Path: cmd.Path, Arg: cmd.Args, Env: cmd.Env, CaptureOutput: cmd.CaptureOutput}
	if len(cmd.Input) > 0 {
		args.InputData = base64.StdEncoding.EncodeToString(cmd.Input)
	}
	raw, err := c.call(ctx, "guest-exec", args)
	if err != nil {
		return 0, fmt.Errorf("guest-exec %q: %w", cmd.Path, err)
	}
	pid, err := decodeExec(raw)
	if err != nil {
		return 0, fmt.Errorf("guest-exec %q: %w", cmd.Path, err)
	}
	return pid, nil
}

// ExecStatus asks for the state of process pid (guest-exec-status). Once it
// reports Exited the agent forgets the process: a second call for the same
// pid fails (QEMU 7.2: GenericError "Invalid parameter 'pid'"). Each output
// stream is cut to MaxOutput bytes while it is decoded.
func (c *Client) ExecStatus(ctx context.Context, pid int64) (ExecStatus, error) {
	return c.execStatus(ctx, pid, MaxOutput)
}

func (c *Client) execStatus(ctx context.Context, pid int64, limit int) (ExecStatus, error) {
	raw, err := c.call(ctx, "guest-exec-status", map[string]int64{"pid": pid})
	if err != nil {
		return ExecStatus{}, fmt.Errorf("guest-exec-status pid %d: %w", pid, err)
	}
	st, err := decodeExecStatus(raw, limit)
	if err != nil {
		return ExecStatus{}, fmt.Errorf("guest-exec-status pid %d: %w", pid, err)
	}
	return st, nil
}

// Wait polls ExecStatus until process pid has exited, starting at about
// 10 ms between polls and doubling up to about 250 ms. Each output stream is
// cut to limit bytes while it is decoded (limit < 1 or above MaxOutput:
// MaxOutput), and its truncated flag set when cut.
//
// If ctx ends first, Wait returns an error wrapping both ErrExecTimeout and
// ctx.Err(); the process may still be running in the guest.
func (c *Client) Wait(ctx context.Context, pid int64, limit int) (ExecStatus, error) {
	st, _, err := c.WaitAfter(ctx, pid, limit, 0)
	return st, err
}

// WaitAfter is Wait with its first status read after first: where the
// command is expected to have ended, so that one read usually finds it
// done. It also returns how many guest-exec-status calls it made.
func (c *Client) WaitAfter(ctx context.Context, pid int64, limit int, first time.Duration) (ExecStatus, int, error) {
	delay, reads := c.pollMin, 0
	if err := sleep(ctx, first); err != nil {
		return ExecStatus{}, reads, fmt.Errorf("guest-exec pid %d: %w: %w", pid, ErrExecTimeout, err)
	}
	for {
		st, err := c.execStatus(ctx, pid, limit)
		reads++
		if err != nil {
			if ctx.Err() != nil {
				return ExecStatus{}, reads, fmt.Errorf("guest-exec pid %d: %w: %w", pid, ErrExecTimeout, ctx.Err())
			}
			return ExecStatus{}, reads, err
		}
		// A finished result can be read only once: keep it even if ctx
		// has just ended.
		if st.Exited {
			return st, reads, nil
		}
		if err := sleep(ctx, delay); err != nil {
			return ExecStatus{}, reads, fmt.Errorf("guest-exec pid %d: %w: %w", pid, ErrExecTimeout, err)
		}
		delay = min(2*delay, c.pollMax)
	}
}

// sleep waits d, or until ctx ends (then it returns ctx's error); a d
// that is not positive does not wait, even for an ended ctx.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return timing.Sleep(ctx, d)
}

// Run starts cmd and waits for it: Exec, then Wait.
func (c *Client) Run(ctx context.Context, cmd Command, limit int) (ExecStatus, error) {
	pid, err := c.Exec(ctx, cmd)
	if err != nil {
		return ExecStatus{}, err
	}
	return c.Wait(ctx, pid, limit)
}

// decodeExec decodes the guest-exec return value {"pid": N}.
func decodeExec(raw json.RawMessage) (int64, error) {
	var r struct {
		PID *int64 `json:"pid"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("malformed return value: %w", err)
	}
	if r.PID == nil {
		return 0, errors.New("return value has no pid")
	}
	if *r.PID <= 0 {
		return 0, fmt.Errorf("pid %d is not positive", *r.PID)
	}
	return *r.PID, nil
}

// decodeExecStatus decodes the guest-exec-status return value, cutting each
// output stream to limit bytes (limit < 1 or above MaxOutput: MaxOutput) as
// it decodes: no more than that is ever allocated for it.
func decodeExecStatus(raw json.RawMessage, limit int) (ExecStatus, error) {
	if limit < 1 || limit > MaxOutput {
		limit = MaxOutput
	}
	var r struct {
		Exited       *bool        `json:"exited"`
		ExitCode     *int64       `json:"exitcode"`
		Signal       *int64       `json:"signal"`
		OutData      cappedBase64 `json:"out-data"`
		ErrData      cappedBase64 `json:"err-data"`
		OutTruncated bool         `json:"out-truncated"`
		ErrTruncated bool         `json:"err-truncated"`
	}
	r.OutData = cappedBase64{name: "out-data", limit: limit}
	r.ErrData = cappedBase64{name: "err-data", limit: limit}
	if err := json.Unmarshal(raw, &r); err != nil {
		return ExecStatus{}, fmt.Errorf("malformed return value: %w", err)
	}
	if r.Exited == nil {
		return ExecStatus{}, errors.New("return value has no exited flag")
	}
	st := ExecStatus{Exited: *r.Exited, StdoutTruncated: r.OutTruncated, StderrTruncated: r.ErrTruncated}
	if !st.Exited {
		return st, nil
	}
	var err error
	if st.ExitCode, err = intField("exitcode", r.ExitCode); err != nil {
		return ExecStatus{}, err
	}
	if st.Signal, err = intField("signal", r.Signal); err != nil {
		return ExecStatus{}, err
	}
	if st.Stdout, err = r.OutData.decode(); err != nil {
		return ExecStatus{}, err
	}
	if st.Stderr, err = r.ErrData.decode(); err != nil {
		return ExecStatus{}, err
	}
	st.StdoutTruncated = st.StdoutTruncated || r.OutData.cut
	st.StderrTruncated = st.StderrTruncated || r.ErrData.cut
	return st, nil
}

// intField converts an optional JSON integer to an int.
func intField(name string, v *int64) (*int, error) {
	if v == nil {
		return nil, nil
	}
	n := int(*v)
	if int64(n) != *v {
		return nil, fmt.Errorf("%s %d out of range", name, *v)
	}
	return &n, nil
}

// cappedBase64 holds the head of a base64 JSON string: only the characters
// needed for limit decoded bytes are kept, so a guest's megabytes of output
// cost limit bytes, not their size.
type cappedBase64 struct {
	name  string // the member's name, for errors
	limit int
	text  []byte // the kept head of the base64 text
	cut   bool   // text was cut
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *cappedBase64) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	text, err := jsonStringBytes(b)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	// Keep whole 4-character groups covering limit bytes.
	if need := (c.limit + 2) / 3 * 4; len(text) > need {
		text, c.cut = text[:need], true
	}
	c.text = bytes.Clone(text)
	return nil
}

// decode returns the kept bytes, at most limit of them.
func (c *cappedBase64) decode() ([]byte, error) {
	if len(c.text) == 0 {
		return nil, nil
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(c.text)))
	n, err := base64.StdEncoding.Decode(buf, c.text)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid base64: %w", c.name, err)
	}
	if n > c.limit {
		n, c.cut = c.limit, true
	}
	return buf[:n:n], nil
}

// jsonStringBytes returns the contents of the JSON string literal b. Base64
// text needs no escapes, so the literal's bytes are used as they are; a
// literal with escapes is unquoted by encoding/json.
func jsonStringBytes(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, errors.New("output is not a string")
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return b[1 : len(b)-1], nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return []byte(s), nil
}
