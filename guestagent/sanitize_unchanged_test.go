package guestagent

import (
	"testing"
	"unicode/utf8"
)

// FuzzUnchanged: whatever Unchanged accepts, Sanitize returns as it is;
// Sanitize's own output is always Unchanged (one sanitiser, one rule).
func FuzzUnchanged(f *testing.F) {
	for _, s := range []string{"web-01", "a b", " a", "a  b", "web\u200b1", "\ufeff", "x\u00ady", "\xff", "Ünï", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := utf8.RuneCountInString(s) + 1
		if Unchanged(s) && utf8.ValidString(s) && Sanitize(s, n) != s {
			t.Fatalf("Unchanged(%q) but Sanitize gives %q", s, Sanitize(s, n))
		}
		if out := Sanitize(s, 64); !Unchanged(out) {
			t.Fatalf("Sanitize(%q) = %q, which Unchanged rejects", s, out)
		}
	})
}
