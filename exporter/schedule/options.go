package schedule

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/model"
)

// OptionError is an option of serve or cron (a field of Runner or Cron,
// an argument of CheckTiming) whose value will not do. Option names it as
// the library does; a command that set it from a flag names the flag
// instead (Named).
type OptionError struct {
	// Option is the option's name: Interval, DownAfter, RetryInterval,
	// TextfileDir, …
	Option string
	// Value is the value, quoted after the name when Quote is set.
	Value string
	Quote bool
	// Err says what is wrong with it.
	Err error
}

// Error names the option by Option.
func (e *OptionError) Error() string { return e.Named(e.Option) }

// Named is the error with the option called name (a flag, say):
// `name "value": err`, or `name: err` when the value is not quoted.
func (e *OptionError) Named(name string) string {
	if e.Quote {
		return fmt.Sprintf("%s %q: %v", name, e.Value, e.Err)
	}
	return fmt.Sprintf("%s: %v", name, e.Err)
}

// Unwrap returns Err.
func (e *OptionError) Unwrap() error { return e.Err }

// UUIDSet is the set of the domains' UUIDs.
func UUIDSet(doms []model.Domain) map[string]bool {
	set := make(map[string]bool, len(doms))
	for _, d := range doms {
		set[d.UUID] = true
	}
	return set
}

// LogOrDiscard returns log, or a logger that discards everything if it is
// nil.
func LogOrDiscard(log logrus.FieldLogger) logrus.FieldLogger {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
