package output

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// TestFormatsRegistered: each format's file registers it; the default
// comes first, and an unknown format is named with the list.
func TestFormatsRegistered(t *testing.T) {
	if got := Formats(); !slices.Equal(got, []Format{Table, JSON}) {
		t.Errorf("Formats() = %v, want [table json]", got)
	}
	if got := FormatNames(); got != "table or json" {
		t.Errorf("FormatNames() = %q", got)
	}
	for _, f := range Formats() {
		var buf bytes.Buffer
		if err := f.WriteCheck(&buf, []model.Result{}, false); err != nil || buf.Len() == 0 {
			t.Errorf("%s: WriteCheck = %v, %q", f, err, buf.String())
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("RegisterFormat(json) twice: no panic")
		}
	}()
	RegisterFormat(JSON, Writer{Check: WriteTable, Domains: WriteDomainsTable})
}
