package guestagent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
	StdoutTruncated bool   // the agent (16 MiB) or Wait's limit cut stdout
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
// pid fails (QEMU 7.2: GenericError "Invalid parameter 'pid'").
func (c *Client) ExecStatus(ctx context.Context, pid int64) (ExecStatus, error) {
	raw, err := c.call(ctx, "guest-exec-status", map[string]int64{"pid": pid})
	if err != nil {
		return ExecStatus{}, fmt.Errorf("guest-exec-status pid %d: %w", pid, err)
	}
	st, err := decodeExecStatus(raw)
	if err != nil {
		return ExecStatus{}, fmt.Errorf("guest-exec-status pid %d: %w", pid, err)
	}
	return st, nil
}

// Wait polls ExecStatus until process pid has exited, starting at about
// 10 ms between polls and doubling up to about 250 ms. Each output stream is
// cut to limit bytes (limit < 1: no cut beyond the agent's own 16 MiB), and
// its truncated flag set when cut.
//
// If ctx ends first, Wait returns an error wrapping both ErrExecTimeout and
// ctx.Err(); the process may still be running in the guest.
func (c *Client) Wait(ctx context.Context, pid int64, limit int) (ExecStatus, error) {
	delay := c.pollMin
	for {
		st, err := c.ExecStatus(ctx, pid)
		if err != nil {
			if ctx.Err() != nil {
				return ExecStatus{}, fmt.Errorf("guest-exec pid %d: %w: %w", pid, ErrExecTimeout, ctx.Err())
			}
			return ExecStatus{}, err
		}
		// A finished result can be read only once: keep it even if ctx
		// has just ended.
		if st.Exited {
			capOutput(&st, limit)
			return st, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ExecStatus{}, fmt.Errorf("guest-exec pid %d: %w: %w", pid, ErrExecTimeout, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, c.pollMax)
	}
}

// Run starts cmd and waits for it: Exec, then Wait.
func (c *Client) Run(ctx context.Context, cmd Command, limit int) (ExecStatus, error) {
	pid, err := c.Exec(ctx, cmd)
	if err != nil {
		return ExecStatus{}, err
	}
	return c.Wait(ctx, pid, limit)
}

func capOutput(st *ExecStatus, limit int) {
	if limit < 1 {
		return
	}
	if len(st.Stdout) > limit {
		st.Stdout, st.StdoutTruncated = st.Stdout[:limit:limit], true
	}
	if len(st.Stderr) > limit {
		st.Stderr, st.StderrTruncated = st.Stderr[:limit:limit], true
	}
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

// decodeExecStatus decodes the guest-exec-status return value.
func decodeExecStatus(raw json.RawMessage) (ExecStatus, error) {
	var r struct {
		Exited       *bool   `json:"exited"`
		ExitCode     *int64  `json:"exitcode"`
		Signal       *int64  `json:"signal"`
		OutData      *string `json:"out-data"`
		ErrData      *string `json:"err-data"`
		OutTruncated bool    `json:"out-truncated"`
		ErrTruncated bool    `json:"err-truncated"`
	}
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
	if r.ExitCode != nil {
		v := int(*r.ExitCode)
		if int64(v) != *r.ExitCode {
			return ExecStatus{}, fmt.Errorf("exitcode %d out of range", *r.ExitCode)
		}
		st.ExitCode = &v
	}
	if r.Signal != nil {
		v := int(*r.Signal)
		if int64(v) != *r.Signal {
			return ExecStatus{}, fmt.Errorf("signal %d out of range", *r.Signal)
		}
		st.Signal = &v
	}
	var err error
	if st.Stdout, err = decodeOutput(r.OutData); err != nil {
		return ExecStatus{}, fmt.Errorf("out-data is not valid base64: %w", err)
	}
	if st.Stderr, err = decodeOutput(r.ErrData); err != nil {
		return ExecStatus{}, fmt.Errorf("err-data is not valid base64: %w", err)
	}
	return st, nil
}

func decodeOutput(s *string) ([]byte, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(*s)
}
