package output

import (
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		states []model.State
		want   int
	}{
		{nil, ExitOK},
		{[]model.State{model.StateOK, model.StatePaused}, ExitOK},
		{[]model.State{model.StateOK, model.StateUnknown}, ExitUnknownVM},
		{[]model.State{model.StateUnknown, model.StateDegraded}, ExitProbeFailed},
		{[]model.State{model.StateDown, model.StateOK}, ExitProbeFailed},
	}
	for _, tt := range tests {
		var rs []model.Result
		for _, s := range tt.states {
			rs = append(rs, model.Result{State: s})
		}
		if got := ExitCode(rs); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.states, got, tt.want)
		}
	}
}
