package output

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/checker"
)

func init() {
	RegisterFormat(JSON, Writer{
		Check:   func(w io.Writer, results []checker.Result, _ bool) error { return WriteJSON(w, results) },
		Domains: WriteJSON,
	})
}

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
