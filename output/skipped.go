package output

import (
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// WriteSkipped names, one line each, the domains opt-in mode skipped for
// want of consent. They are not checked, so they are not in the report on
// stdout; stderr tells the operator they exist and why, in the words of
// the backend that listed them (settings.Backend.NotOptedIn).
func WriteSkipped(w io.Writer, host settings.Backend, skipped []model.Domain) {
	for _, d := range skipped {
		why := host.NotOptedIn(d)
		fmt.Fprintf(w, "skipped %s (%s): not opted in: %s\n",
			guestagent.Sanitize(d.Name, 256), guestagent.Sanitize(d.UUID, 64), guestagent.Sanitize(why, 300))
	}
}
