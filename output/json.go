package output

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/model"
)

func init() {
	RegisterFormat(JSON, Writer{
		Check:   func(w io.Writer, results []model.Result, _ bool) error { return WriteJSON(w, results) },
		Domains: WriteJSON,
	})
}

// WriteJSON writes the JSON report, model.Report.
func WriteJSON(w io.Writer, results []model.Result) error {
	if results == nil {
		results = []model.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(model.Report{Domains: results}); err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	return nil
}
