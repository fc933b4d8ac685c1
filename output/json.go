package output

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/checker"
)

// WriteJSON writes the JSON report, checker.Report.
func WriteJSON(w io.Writer, results []checker.Result) error {
	if results == nil {
		results = []checker.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(checker.Report{Domains: results}); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}
