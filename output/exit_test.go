package output

import (
	"testing"

	"github.com/vmcheck/vmcheck/checker"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		states []checker.State
		want   int
	}{
		{nil, ExitOK},
		{[]checker.State{checker.StateOK, checker.StatePaused}, ExitOK},
		{[]checker.State{checker.StateOK, checker.StateUnknown}, ExitUnknownVM},
		{[]checker.State{checker.StateUnknown, checker.StateDegraded}, ExitProbeFailed},
		{[]checker.State{checker.StateDown, checker.StateOK}, ExitProbeFailed},
	}
	for _, tt := range tests {
		var rs []checker.Result
		for _, s := range tt.states {
			rs = append(rs, checker.Result{State: s})
		}
		if got := ExitCode(rs); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.states, got, tt.want)
		}
	}
}

// TestExitCodesAgree keeps checker's deprecated exit codes equal to these
// while code outside cmd still names them.
func TestExitCodesAgree(t *testing.T) {
	for _, c := range []struct{ old, now int }{
		{checker.ExitOK, ExitOK}, {checker.ExitUnknownVM, ExitUnknownVM},
		{checker.ExitProbeFailed, ExitProbeFailed}, {checker.ExitError, ExitError},
	} {
		if c.old != c.now {
			t.Errorf("checker exit code %d, output %d", c.old, c.now)
		}
	}
}
