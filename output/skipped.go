package output

import (
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/guestagent"
)

// WriteSkipped names, one line each, the domains opt-in mode skipped for
// want of consent. They are not checked, so they are not in the report on
// stdout; stderr tells the operator they exist and why.
func WriteSkipped(w io.Writer, qemu bool, skipped []checker.Domain) {
	for _, d := range skipped {
		why := `its metadata has no <vmcheck:check enabled="true"/>`
		switch {
		case qemu:
			why = "no config policy with enabled: true matches it"
		case d.Policy.Error != "":
			why = d.Policy.Error
		}
		fmt.Fprintf(w, "skipped %s (%s): not opted in: %s\n",
			guestagent.Sanitize(d.Name, 256), guestagent.Sanitize(d.UUID, 64), guestagent.Sanitize(why, 300))
	}
}
