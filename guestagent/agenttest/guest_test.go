package agenttest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
)

func intp(v int) *int { return &v }

// TestGuestExec: pids are handed out in turn, a running process reports
// only that, a finished one is reported once and then forgotten.
func TestGuestExec(t *testing.T) {
	var done bool
	g := &agenttest.Guest{Spawn: func(cmd guestagent.Command) (agenttest.Process, error) {
		switch cmd.Path {
		case "ping":
			return agenttest.Exited(guestagent.ExecStatus{ExitCode: intp(0), Stdout: []byte("pong\n")}), nil
		case "sleep":
			return func() guestagent.ExecStatus {
				if !done {
					return guestagent.ExecStatus{}
				}
				return guestagent.ExecStatus{Exited: true, Signal: intp(9), Stderr: []byte("killed")}
			}, nil
		}
		return nil, agenttest.SpawnFailure(cmd.Path)
	}}
	c := guestagent.New(agenttest.New(g.Answer))
	ctx := context.Background()

	pid1, err := c.Exec(ctx, guestagent.Command{Path: "ping", CaptureOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	pid2, err := c.Exec(ctx, guestagent.Command{Path: "sleep"})
	if err != nil || pid2 != pid1+1 {
		t.Fatalf("second Exec = %d, %v; want pid %d", pid2, err, pid1+1)
	}
	if g.Running() != 2 {
		t.Errorf("Running() = %d, want 2", g.Running())
	}
	st, err := c.ExecStatus(ctx, pid1)
	if err != nil || !st.Exited || st.ExitCode == nil || *st.ExitCode != 0 || string(st.Stdout) != "pong\n" {
		t.Errorf("ExecStatus(ping) = %+v, %v; want exited 0 with its output", st, err)
	}
	if _, err := c.ExecStatus(ctx, pid1); err == nil || !strings.Contains(err.Error(), "Invalid parameter 'pid'") {
		t.Errorf("second ExecStatus(ping) error = %v, want the agent's Invalid parameter 'pid'", err)
	}
	if st, err := c.ExecStatus(ctx, pid2); err != nil || st.Exited {
		t.Errorf("ExecStatus(sleep) = %+v, %v; want running", st, err)
	}
	done = true
	if st, err := c.ExecStatus(ctx, pid2); err != nil || !st.Exited || st.Signal == nil || *st.Signal != 9 || string(st.Stderr) != "killed" {
		t.Errorf("ExecStatus(sleep) = %+v, %v; want killed by signal 9", st, err)
	}
	if g.Running() != 0 {
		t.Errorf("Running() = %d after both were reaped", g.Running())
	}
	if _, err := c.Exec(ctx, guestagent.Command{Path: "cmd.exe"}); !isSpawnFailure(err) {
		t.Errorf("Exec(cmd.exe) error = %v, want a spawn failure", err)
	}
}

func isSpawnFailure(err error) bool {
	var ae *guestagent.Error
	return errors.As(err, &ae) && ae.Class == "GenericError" && strings.Contains(ae.Desc, "Failed to execute child process")
}

// TestGuestFiles: files are read in the chunks asked for, eof once read
// to the end; missing files and unknown handles fail.
func TestGuestFiles(t *testing.T) {
	long := strings.Repeat("0123456789", 10000) // more than one 64 KiB read
	g := &agenttest.Guest{Files: map[string][]byte{"/proc/net/route": []byte("Iface\n"), "/long": []byte(long), "/empty": {}}}
	c := guestagent.New(agenttest.New(g.Answer))
	ctx := context.Background()
	for path, want := range map[string]string{"/proc/net/route": "Iface\n", "/long": long, "/empty": ""} {
		if got, err := c.ReadFile(ctx, path, 1<<20); err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %d bytes, %v; want %d bytes", path, len(got), err, len(want))
		}
	}
	if got, err := c.ReadFile(ctx, "/long", 10); err != nil || string(got) != long[:10] {
		t.Errorf("ReadFile(/long, 10) = %q, %v", got, err)
	}
	if _, err := c.ReadFile(ctx, "/nope", 10); err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("ReadFile(/nope) error = %v", err)
	}
	a := agenttest.New(g.Answer)
	for _, req := range []string{
		`{"execute":"guest-file-read","arguments":{"handle":5,"count":10}}`,
		`{"execute":"guest-file-close","arguments":{"handle":5}}`,
		`{"execute":"guest-file-read","arguments":{"handle":"x"}}`,
	} {
		if reply, err := a.Command(ctx, []byte(req)); err != nil || !strings.Contains(string(reply), `"GenericError"`) {
			t.Errorf("Command(%s) = %s, %v; want a GenericError", req, reply, err)
		}
	}
}

// TestGuestNext: other commands go to Next, or are unknown.
func TestGuestNext(t *testing.T) {
	ctx := context.Background()
	if err := guestagent.New(agenttest.New((&agenttest.Guest{}).Answer)).Ping(ctx); !errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("Ping without Next: %v, want ErrCommandNotFound", err)
	}
	g := &agenttest.Guest{Next: agenttest.Returns(nil)}
	if err := guestagent.New(agenttest.New(g.Answer)).Ping(ctx); err != nil {
		t.Errorf("Ping with Next: %v", err)
	}
	// Without Spawn nothing can be started.
	if _, err := guestagent.New(agenttest.New(g.Answer)).Exec(ctx, guestagent.Command{Path: "ping"}); !isSpawnFailure(err) {
		t.Errorf("Exec without Spawn: %v, want a spawn failure", err)
	}
}

// The Guest behind Client.Run and Wait: a process that runs for a while
// is polled until it exits.
func TestGuestRun(t *testing.T) {
	start := time.Now()
	g := &agenttest.Guest{Spawn: func(guestagent.Command) (agenttest.Process, error) {
		return func() guestagent.ExecStatus {
			if time.Since(start) < 30*time.Millisecond {
				return guestagent.ExecStatus{}
			}
			return guestagent.ExecStatus{Exited: true, ExitCode: intp(1)}
		}, nil
	}}
	st, err := guestagent.New(agenttest.New(g.Answer)).Run(context.Background(), guestagent.Command{Path: "ping"}, 0)
	if err != nil || st.ExitCode == nil || *st.ExitCode != 1 {
		t.Errorf("Run = %+v, %v; want exit code 1", st, err)
	}
}
