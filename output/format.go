package output

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vmcheck/vmcheck/model"
)

// Format is a report format, as --output names it.
type Format string

// Report formats.
const (
	// Table is one line per domain (check) or per NIC (domains), for
	// people; the default.
	Table Format = "table"
	// JSON is model.Report, for programs.
	JSON Format = "json"
)

// Writer is how one format writes the reports: each format's file
// registers its Writer (RegisterFormat), and nothing else names it.
type Writer struct {
	// Check writes the report of a check; color says the writer is a
	// terminal that shows colour.
	Check func(w io.Writer, results []model.Result, color bool) error
	// Domains writes the report of discovery.
	Domains func(w io.Writer, results []model.Result) error
}

// writers are the registered formats.
var writers = map[Format]Writer{}

// RegisterFormat adds the format f, written by w; call it from an init
// function of the format's own file. It panics when f is registered
// twice or w lacks a function.
func RegisterFormat(f Format, w Writer) {
	if _, dup := writers[f]; dup || f == "" || w.Check == nil || w.Domains == nil {
		panic(fmt.Sprintf("output: format %q registered twice, unnamed or incomplete", f))
	}
	writers[f] = w
}

// Formats lists the formats vmcheck writes: Table, the default, first,
// then the others by name.
func Formats() []Format {
	out := make([]Format, 0, len(writers))
	for f := range writers {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Format) int {
		switch {
		case a == Table:
			return -1
		case b == Table:
			return 1
		}
		return strings.Compare(string(a), string(b))
	})
	return out
}

// FormatNames lists the formats in words: "table or json".
func FormatNames() string {
	names := make([]string, 0, len(writers))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Valid reports whether f is a format vmcheck writes.
func (f Format) Valid() error {
	if _, ok := writers[f]; !ok {
		return fmt.Errorf("%q is not %s", string(f), FormatNames())
	}
	return nil
}

// WriteCheck writes the report of a check in format f; the table for a
// format not registered (color: see WriteTable).
func (f Format) WriteCheck(w io.Writer, results []model.Result, color bool) error {
	return f.writer().Check(w, results, color)
}

// WriteDomains writes the report of discovery in format f; the domains
// table for a format not registered.
func (f Format) WriteDomains(w io.Writer, results []model.Result) error {
	return f.writer().Domains(w, results)
}

// writer is f's Writer, or the table's.
func (f Format) writer() Writer {
	if w, ok := writers[f]; ok {
		return w
	}
	return writers[Table]
}
