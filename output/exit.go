package output

import (
	"github.com/vmcheck/vmcheck/model"
)

// Exit codes, following the Nagios plugin convention.
const (
	// ExitOK: every VM is ok (paused VMs count as ok: they are not probed).
	ExitOK = 0
	// ExitUnknownVM: some VM could not be checked and no probe failed.
	ExitUnknownVM = 1
	// ExitProbeFailed: some probe failed.
	ExitProbeFailed = 2
	// ExitError: vmcheck itself could not run (a bad flag or config,
	// the host unreachable), or a domain named with --domain is not
	// running or not found: UNKNOWN to Nagios, never an empty OK.
	ExitError = 3
)

// ExitCode summarises results as a process exit code.
func ExitCode(results []model.Result) int {
	code := ExitOK
	for _, r := range results {
		switch r.State {
		case model.StateDegraded, model.StateDown:
			return ExitProbeFailed
		case model.StateUnknown:
			code = ExitUnknownVM
		}
	}
	return code
}
