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
