package probe

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// toolError is an error of a method's guest command; missing says the
// guest could not spawn the tool.
type toolError struct {
	text    string
	missing bool
}

func (e *toolError) Error() string { return e.text }

// fail ends res with err: Unavailable when a tool is missing, Error else.
func fail(res Result, err error) Result {
	res.Status, res.Error = Error, guestagent.Sanitize(err.Error(), maxText)
	var te *toolError
	if errors.As(err, &te) && te.missing {
		res.Status = Unavailable
	}
	return res
}

// execText says why a guest command could not be run: the tool missing,
// or the agent's error.
func execText(path string, err error) string {
	var ae *guestagent.Error
	if osdetect.IsSpawnFailure(err) && errors.As(err, &ae) {
		return fmt.Sprintf("%s not found in the guest", path)
	}
	if errors.Is(err, guestagent.ErrExecTimeout) {
		return fmt.Sprintf("%s did not finish before its deadline", path)
	}
	return guestagent.Sanitize(fmt.Sprintf("%s: %v", path, err), maxText)
}

// firstLine is the first non-empty line of b, sanitised.
func firstLine(b []byte) string {
	b = b[:min(len(b), 4096)]
	for _, l := range bytes.Split(b, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			return guestagent.Sanitize(string(l), maxText)
		}
	}
	return ""
}

// exitCode is the command's exit code, -1 when it has none (a signal).
func exitCode(st guestagent.ExecStatus) int {
	if st.ExitCode == nil {
		return -1
	}
	return *st.ExitCode
}
