package checker

// Exit codes, kept for the code outside cmd that still names them here.
//
// Deprecated: the exit codes live at the edge now, in package output
// (output.ExitOK and the others, output.ExitCode); these constants have the
// same values and go once cmd/vmcheck/libvirt.go, nolibvirt.go and e2e use
// output's.
const (
	ExitOK          = 0
	ExitUnknownVM   = 1
	ExitProbeFailed = 2
	ExitError       = 3
)
