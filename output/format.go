package output

import (
	"fmt"
	"io"

	"github.com/vmcheck/vmcheck/checker"
)

// Format is a report format, as --output names it.
type Format string

// Report formats.
const (
	// Table is one line per domain (check) or per NIC (domains), for
	// people.
	Table Format = "table"
	// JSON is checker.Report, for programs.
	JSON Format = "json"
)

// Valid reports whether f is a format vmcheck writes.
func (f Format) Valid() error {
	if f != Table && f != JSON {
		return fmt.Errorf("%q is not table or json", string(f))
	}
	return nil
}

// WriteCheck writes the report of a check: JSON, else the table (color:
// see WriteTable).
func (f Format) WriteCheck(w io.Writer, results []checker.Result, color bool) error {
	if f == JSON {
		return WriteJSON(w, results)
	}
	return WriteTable(w, results, color)
}

// WriteDomains writes the report of discovery: JSON, else the domains
// table.
func (f Format) WriteDomains(w io.Writer, results []checker.Result) error {
	if f == JSON {
		return WriteJSON(w, results)
	}
	return WriteDomainsTable(w, results)
}
