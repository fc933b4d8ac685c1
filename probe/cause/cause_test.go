package cause

import (
	"slices"
	"testing"
)

// TestRegister: a cause is registered once with its words (again with the
// same words is fine), All lists it sorted, Plain says it; other words for
// it, an empty cause or empty words panic.
func TestRegister(t *testing.T) {
	c := Register("test_cause", "a test cause")
	if c != "test_cause" || Register(c, "a test cause") != c {
		t.Fatalf("Register returned %q", c)
	}
	if w, ok := Plain(c); !ok || w != "a test cause" {
		t.Errorf("Plain = %q, %t", w, ok)
	}
	if _, ok := Plain("never_registered"); ok {
		t.Error("Plain of an unregistered cause is ok")
	}
	if all := All(); !slices.Contains(all, c) || !slices.IsSorted(all) {
		t.Errorf("All = %v, want it sorted with %q", all, c)
	}
	for _, bad := range [][2]string{{"test_cause", "other words"}, {"", "words"}, {"no_words", ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q, %q) did not panic", bad[0], bad[1])
				}
			}()
			Register(Cause(bad[0]), bad[1])
		}()
	}
}
