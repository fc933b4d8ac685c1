package agenttest

import (
	"encoding/base64"
	"encoding/json"
	"sync"

	"github.com/vmcheck/vmcheck/guestagent"
)

// The first pid and file handle a Guest hands out. qemu-ga numbers file
// handles from 1000 (QGA_PSTATE_DEFAULT_FD_COUNTER); pids are the guest's
// own, so any positive number will do.
const (
	firstPID    = 1000
	firstHandle = 1000
)

// defaultReadCount is what guest-file-read reads when asked for no count
// (qemu-ga's QGA_READ_COUNT_DEFAULT).
const defaultReadCount = 4096

// Process is a process a fake guest-exec started. The Guest calls it on
// every guest-exec-status for its pid and reports what it returns; once
// that says Exited, the Guest forgets the process, as qemu-ga does. Only
// Exited is reported while the process runs.
type Process func() guestagent.ExecStatus

// Exited returns a Process that has exited with st: the first
// guest-exec-status reports st, with Exited set, and a second one fails.
func Exited(st guestagent.ExecStatus) Process {
	st.Exited = true
	return func() guestagent.ExecStatus { return st }
}

// Guest answers the commands whose effect lasts beyond one call, the way
// qemu-ga does, and passes every other command to Next:
//
//   - guest-exec asks Spawn what it starts and returns a new pid; a
//     "cat" of paths that are all in Files runs without Spawn and prints
//     them, as a guest's cat would;
//   - guest-exec-status reports that process's status, running
//     ({"exited": false}) until it has exited; a finished status is
//     reported once, after which the pid is unknown ("Invalid parameter
//     'pid'");
//   - guest-file-open opens a file of Files for reading (a missing one
//     fails with "No such file or directory") and returns a handle;
//     guest-file-read reads up to count bytes (4096 when not given) from
//     where the last read ended, with eof set once the file is read to its
//     end; guest-file-close forgets the handle. An unknown handle fails.
//
// Set its fields before the first command. A Guest is safe for
// concurrent use; Spawn and the Processes it returns are called with the
// Guest's lock held and must not call back into it.
type Guest struct {
	// Files maps a guest path to the content guest-file-open serves.
	Files map[string][]byte
	// Spawn decides what a guest-exec starts: the Process, or an error
	// for guest-exec to fail with (SpawnFailure(cmd.Path) for a program
	// the guest does not have). Nil: every guest-exec fails to spawn.
	Spawn func(cmd guestagent.Command) (Process, error)
	// Next answers every other command; nil answers NotFound.
	Next Func

	mu         sync.Mutex
	procs      map[int64]Process
	files      map[int64]*openFile
	nextPID    int64
	nextHandle int64
}

type openFile struct {
	data []byte
	off  int
}

// Answer is the Guest's Func: pass it to New.
func (g *Guest) Answer(cmd string, args json.RawMessage) (any, error) {
	switch cmd {
	case "guest-exec":
		return g.exec(args)
	case "guest-exec-status":
		return g.execStatus(args)
	case "guest-file-open":
		return g.fileOpen(args)
	case "guest-file-read":
		return g.fileRead(args)
	case "guest-file-close":
		return g.fileClose(args)
	}
	if g.Next == nil {
		return nil, NotFound(cmd)
	}
	return g.Next(cmd, args)
}

// Running reports how many started processes have not been reaped yet.
func (g *Guest) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.procs)
}

// decodeArgs decodes a command's arguments, as qemu-ga answers a bad one.
func decodeArgs(args json.RawMessage, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return genericError("Invalid parameter type")
	}
	return nil
}

func (g *Guest) exec(args json.RawMessage) (any, error) {
	var a struct {
		Path      string   `json:"path"`
		Arg       []string `json:"arg"`
		Env       []string `json:"env"`
		InputData string   `json:"input-data"`
		Capture   bool     `json:"capture-output"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	input, err := base64.StdEncoding.DecodeString(a.InputData)
	if err != nil {
		return nil, genericError("Invalid parameter 'input-data'")
	}
	cmd := guestagent.Command{Path: a.Path, Args: a.Arg, Env: a.Env, CaptureOutput: a.Capture}
	if len(input) > 0 {
		cmd.Input = input
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.catFiles(cmd)
	if !ok {
		if g.Spawn == nil {
			return nil, SpawnFailure(a.Path)
		}
		var err error
		if p, err = g.Spawn(cmd); err != nil {
			return nil, err
		}
	}
	if g.procs == nil {
		g.procs, g.nextPID = make(map[int64]Process), firstPID
	}
	pid := g.nextPID
	g.nextPID++
	g.procs[pid] = p
	return struct {
		PID int64 `json:"pid"`
	}{pid}, nil
}

// catFiles is a "cat" of paths that are all in Files: it exits 0 at once
// with their contents, concatenated. ok is false for any other command.
func (g *Guest) catFiles(cmd guestagent.Command) (p Process, ok bool) {
	if cmd.Path != "cat" || len(cmd.Args) == 0 {
		return nil, false
	}
	var out []byte
	for _, path := range cmd.Args {
		data, ok := g.Files[path]
		if !ok {
			return nil, false
		}
		out = append(out, data...)
	}
	code := 0
	return Exited(guestagent.ExecStatus{ExitCode: &code, Stdout: out}), true
}

// execStatus is the return value of guest-exec-status.
type execStatus struct {
	Exited       bool    `json:"exited"`
	ExitCode     *int    `json:"exitcode,omitempty"`
	Signal       *int    `json:"signal,omitempty"`
	OutData      *string `json:"out-data,omitempty"`
	ErrData      *string `json:"err-data,omitempty"`
	OutTruncated bool    `json:"out-truncated,omitempty"`
	ErrTruncated bool    `json:"err-truncated,omitempty"`
}

func (g *Guest) execStatus(args json.RawMessage) (any, error) {
	var a struct {
		PID int64 `json:"pid"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.procs[a.PID]
	if !ok {
		return nil, genericError("Invalid parameter 'pid'")
	}
	st := p()
	if !st.Exited {
		return execStatus{}, nil
	}
	delete(g.procs, a.PID)
	return execStatus{
		Exited: true, ExitCode: st.ExitCode, Signal: st.Signal,
		OutData: b64(st.Stdout), ErrData: b64(st.Stderr),
		OutTruncated: st.StdoutTruncated, ErrTruncated: st.StderrTruncated,
	}, nil
}

// b64 encodes output for out-data or err-data; none is left out.
func b64(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func (g *Guest) fileOpen(args json.RawMessage) (any, error) {
	var a struct {
		Path string `json:"path"`
		Mode string `json:"mode"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.Mode == "" {
		a.Mode = "r"
	}
	data, ok := g.Files[a.Path]
	if !ok {
		return nil, genericError("failed to open file '%s' (mode: '%s'): No such file or directory", a.Path, a.Mode)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.files == nil {
		g.files, g.nextHandle = make(map[int64]*openFile), firstHandle
	}
	h := g.nextHandle
	g.nextHandle++
	g.files[h] = &openFile{data: data}
	return h, nil
}

func (g *Guest) fileRead(args json.RawMessage) (any, error) {
	var a struct {
		Handle int64 `json:"handle"`
		Count  int   `json:"count"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.files[a.Handle]
	if !ok {
		return nil, genericError("handle '%d' has not been found", a.Handle)
	}
	if a.Count <= 0 {
		a.Count = defaultReadCount
	}
	// qemu-ga reports eof as soon as fread came up short, so a small
	// file is read in one call.
	chunk := f.data[f.off:min(f.off+a.Count, len(f.data))]
	f.off += len(chunk)
	return struct {
		Count int    `json:"count"`
		Buf   string `json:"buf-b64"`
		EOF   bool   `json:"eof"`
	}{len(chunk), base64.StdEncoding.EncodeToString(chunk), f.off == len(f.data)}, nil
}

func (g *Guest) fileClose(args json.RawMessage) (any, error) {
	var a struct {
		Handle int64 `json:"handle"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.files[a.Handle]; !ok {
		return nil, genericError("handle '%d' has not been found", a.Handle)
	}
	delete(g.files, a.Handle)
	return nil, nil
}
