package guestagent

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes an untrusted string safe to log, show and store: invalid
// UTF-8 becomes U+FFFD, control and format characters (including bidi
// overrides and line separators) become spaces, runs of white space
// collapse to one space, the ends are trimmed, and the result is cut to at
// most max runes, the last of which is "…" when something was cut. A max
// below 1 yields "".
func Sanitize(s string, max int) string {
	if max < 1 {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(s), 4*max+3))
	space := false // a space is pending
	n := 0         // runes written
	cut := false
	// Reads only as far as the output needs: the cost follows max, not
	// len(s). Invalid UTF-8 decodes as utf8.RuneError, U+FFFD.
	for _, r := range s {
		if blank(r) {
			space = n > 0
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if n+need > max {
			cut = true
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	if !cut {
		return b.String()
	}
	// Make room for the ellipsis: drop the last rune and any space before it.
	out := b.String()
	for n > max-1 {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
		n--
	}
	out = strings.TrimRight(out, " ")
	return out + "…"
}

// blank reports whether Sanitize turns r into (part of) a space: control
// and format characters (Unicode Cc and Cf: bidi controls, zero-width
// characters, the soft hyphen, the byte order mark, tag characters), line
// and paragraph separators and white space.
func blank(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) ||
		unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// Unchanged reports whether Sanitize leaves s as it is (given a max of at
// least its length): valid UTF-8 without a rune Sanitize rewrites, no
// leading, trailing or repeated space.
func Unchanged(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	prevSpace := true // a leading space is a change
	for _, r := range s {
		switch {
		case r == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		case blank(r):
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace || s == ""
}
