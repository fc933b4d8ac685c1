package guestagent

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"plain", "Debian GNU/Linux 12", 64, "Debian GNU/Linux 12"},
		{"trim and collapse", "  a \t\r\n  b  ", 64, "a b"},
		{"control chars", "a\x00b\x1bc\x7fd", 64, "a b c d"},
		{"bidi override", "abc\u202Eevil", 64, "abc evil"},
		{"line separator", "one\u2028two", 64, "one two"},
		{"invalid utf8", "f\x81r", 64, "f\uFFFDr"},
		{"curly quotes kept", "“cmd.exe”", 64, "“cmd.exe”"},
		{"exact fit", "abcdef", 6, "abcdef"},
		{"cut", "abcdefgh", 6, "abcde…"},
		{"cut before space", "abcd efgh", 6, "abcd…"},
		{"cut multibyte", "ääääää", 4, "äää…"},
		{"max 1", "abc", 1, "…"},
		{"max 0", "abc", 0, ""},
		{"only controls", "\x00\x01\n", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in, tt.max); got != tt.want {
				t.Errorf("Sanitize(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// checkSanitized reports what is wrong with a string that should have
// passed through Sanitize with cap max.
func checkSanitized(tb testing.TB, what, s string, max int) {
	tb.Helper()
	if !utf8.ValidString(s) {
		tb.Errorf("%s = %q: not valid UTF-8", what, s)
	}
	if n := utf8.RuneCountInString(s); n > max {
		tb.Errorf("%s = %q: %d runes, more than %d", what, s, n, max)
	}
	if s != strings.TrimSpace(s) || strings.Contains(s, "  ") {
		tb.Errorf("%s = %q: untrimmed or doubled space", what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || (unicode.IsSpace(r) && r != ' ') {
			tb.Errorf("%s = %q: contains %U", what, s, r)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("Ping wird ausgef\x81hrt f\x81r 192.0.2.1", 40)
	f.Add("a\u202Eb\r\n\tc", 3)
	f.Add("", 1)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%1000 + 1
		if max < 1 {
			max = -max + 1
		}
		got := Sanitize(s, max)
		checkSanitized(t, "Sanitize", got, max)
		if Sanitize(got, max) != got {
			t.Errorf("Sanitize is not idempotent on %q", got)
		}
	})
}
