package exporter

import (
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
)

// maxLabelRunes caps every free-form label value.
const maxLabelRunes = 64

// guestLabel makes a guest-reported string (OS id, OS version) fit for a
// label value: sanitised, cut to maxLabelRunes, and reduced to a
// conservative character set so that no guest can smuggle markup, quotes or
// look-alike characters into a dashboard or an alert.
func guestLabel(s string) string {
	s = guestagent.Sanitize(s, maxLabelRunes)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-', r == '+', r == '~', r == ':':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// hostLabel makes a host-side string (a domain name, a Nova instance or
// project name) safe as a label value without changing ordinary names:
// valid UTF-8, no control or format characters, bounded length.
func hostLabel(s string, max int) string {
	if utf8.ValidString(s) && len(s) <= max && printable(s) {
		return s
	}
	return guestagent.Sanitize(s, max)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u200e' || r == '\u200f' ||
			(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// addrLabel formats an address through netip, so that a label holds only a
// canonical IP address (no zone). It returns "" for anything else.
func addrLabel(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return a.WithZone("").String()
}

// macLabel formats a MAC address canonically (lower case, colons), or
// returns "" when s is not one.
func macLabel(s string) string {
	if s == "" {
		return ""
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}

// uuidLabel returns a domain UUID in canonical lower-case form, or "" when s
// is not one.
func uuidLabel(s string) string {
	if len(s) != 36 {
		return ""
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ""
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return ""
			}
		}
	}
	return string(b)
}

// enumLabel returns s when it is one of the allowed values, else "other".
func enumLabel(s string, allowed ...string) string {
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	return "other"
}
