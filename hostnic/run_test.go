package hostnic

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestExecRun runs real commands: output is capped, a command is ended
// at ctx's deadline, stderr's first line names the failure.
func TestExecRun(t *testing.T) {
	if _, err := exec.LookPath("yes"); err != nil {
		t.Skip("no yes(1)")
	}
	if _, err := execRun(context.Background(), []string{"yes"}); !errors.Is(err, errTooLong) {
		t.Errorf("yes: err %v, want errTooLong", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := execRun(ctx, []string{"sleep", "10"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep: err %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("sleep ran %v past a 200ms deadline", d)
	}
	out, err := execRun(context.Background(), []string{"ls", "/nonexistent-vmcheck"})
	if err == nil || out != nil {
		t.Errorf("ls of nothing: %q, %v", out, err)
	}
	if out, err := execRun(context.Background(), []string{"echo", "a;b"}); err != nil || string(out) != "a;b\n" {
		t.Errorf("echo: %q %v (no shell: the ; is an argument)", out, err)
	}
}
