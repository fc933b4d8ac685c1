//go:build cgo

package libvirthost

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/guestagent"
)

// libvirtFuzzFloods returns hostile messages of about n bytes: floods of
// newlines, 0xFF, NULs, bidi overrides, quotes and nesting, and a very long
// agent error whose description is the bulk of the message (libvirt passes
// the guest's desc through, up to its RPC layer's 4 MiB per string).
func libvirtFuzzFloods(n int) []string {
	agent := "internal error: unable to execute QEMU agent command 'guest-exec': "
	return []string{
		strings.Repeat("\n", n),
		string(bytes.Repeat([]byte{0xFF}, n)),
		strings.Repeat("\x00", n),
		strings.Repeat("\u202E", n/3),
		strings.Repeat("'", n),
		strings.Repeat("{}", n/2),
		strings.Repeat("[", n),
		strings.Repeat("a", n),
		agent + strings.Repeat("x", n),
		agent + strings.Repeat("\r\n\t\u2028\x1b[31m", n/16),
		strings.Repeat("unable to execute QEMU agent command '", n/38),
		strings.Repeat("unable to execute QEMU agent command 'x': ", n/42),
	}
}

var transportSentinels = []error{guestagent.ErrUnresponsive, guestagent.ErrNoChannel, guestagent.ErrDomainNotRunning, guestagent.ErrReplyTooLarge}

// FuzzMapLibvirtError checks mapLibvirtError on libvirt errors with any
// code, domain and message: it never panics; the result is non-nil and
// keeps the libvirt error in its chain; it matches at most one transport
// sentinel, and an agent *Error matches none; an agent *Error has a
// sanitised, bounded command and description and a bounded text; every
// other result reads "[<sentinel>: ]libvirt: <message>" as documented.
// A guest controls the description of an agent error, so that description
// must not change the classification.
func FuzzMapLibvirtError(f *testing.F) {
	seeds := []struct {
		code    libvirt.ErrorNumber
		message string
	}{
		{libvirt.ERR_AGENT_UNRESPONSIVE, "Guest agent is not responding: QEMU guest agent is not connected"},
		{libvirt.ERR_OPERATION_TIMEOUT, "Timed out during operation: cannot acquire state change lock (held by agent=remoteDispatchDomainQemuAgentCommand)"},
		{libvirt.ERR_ARGUMENT_UNSUPPORTED, "argument unsupported: QEMU guest agent is not configured"},
		{libvirt.ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running"},
		{libvirt.ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '6f1c5ab0-0000-0000-0000-000000000000'"},
		{libvirt.ERR_SYSTEM_ERROR, "No complete agent response found in 10485760 bytes: Numerical result out of range"},
		{libvirt.ERR_RPC, "Unable to encode message payload"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-exec': Command guest-exec has been disabled"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-network-get-route': The command guest-network-get-route has not been found"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-exec': Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-info'"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command 'guest-exec': a\u202Eb\r\nc\x1b[2J"},
		{libvirt.ERR_INTERNAL_ERROR, "internal error: Missing agent reply object"},
		{libvirt.ERR_SYSTEM_ERROR, "Cannot recv data: Connection reset by peer"},
	}
	for _, s := range seeds {
		f.Add(int(s.code), int(libvirt.FROM_QEMU), s.message)
	}
	for _, m := range libvirtFuzzFloods(1 << 20) {
		f.Add(int(libvirt.ERR_INTERNAL_ERROR), int(libvirt.FROM_QEMU), m)
	}
	// libvirt's RPC passes strings up to 4 MiB: an agent error that long.
	f.Add(int(libvirt.ERR_INTERNAL_ERROR), int(libvirt.FROM_QEMU), "internal error: unable to execute QEMU agent command 'guest-exec': "+strings.Repeat("\r\n\u202e", 4<<20/6))
	f.Add(int(libvirt.ERR_AGENT_UNRESPONSIVE), int(libvirt.FROM_QEMU), strings.Repeat("\n", 1<<20))
	f.Fuzz(func(t *testing.T, code, domain int, message string) {
		in := libvirt.Error{Code: libvirt.ErrorNumber(code), Domain: libvirt.ErrorDomain(domain), Message: message, Level: libvirt.ERR_ERROR}
		got := mapLibvirtError(in)
		if got == nil {
			t.Fatalf("mapLibvirtError(code %d, %.80q) = nil", code, message)
		}
		var lerr libvirt.Error
		if !errors.As(got, &lerr) || lerr.Message != message || lerr.Code != in.Code {
			t.Errorf("mapLibvirtError(code %d, %.80q) = %.200q: the libvirt error is not in the chain", code, message, got.Error())
		}
		var sentinel error
		for _, s := range transportSentinels {
			if !errors.Is(got, s) {
				continue
			}
			if sentinel != nil {
				t.Errorf("mapLibvirtError(code %d, %.80q) matches both %v and %v", code, message, sentinel, s)
			}
			sentinel = s
		}
		text := got.Error()
		var ae *guestagent.Error
		switch {
		case errors.As(got, &ae):
			if sentinel != nil {
				t.Errorf("mapLibvirtError(code %d, %.80q): agent error that also matches %v", code, message, sentinel)
			}
			if ae.Class != "" {
				t.Errorf("agent error from libvirt with class %q", ae.Class)
			}
			checkSanitized(t, "Command", ae.Command, 64)
			checkSanitized(t, "Desc", ae.Desc, guestagent.MaxDescRunes)
			if n := utf8.RuneCountInString(text); n > len("agent returned an error: ")+guestagent.MaxDescRunes {
				t.Errorf("agent error text has %d runes", n)
			}
			checkSanitizedText(t, text)
		case sentinel != nil:
			if want := sentinel.Error() + ": libvirt: " + guestagent.Sanitize(message, maxMessageRunes); text != want {
				t.Errorf("mapLibvirtError(code %d, %.80q).Error() = %.200q, want %.200q", code, message, text, want)
			}
		default:
			if want := "libvirt: " + guestagent.Sanitize(message, maxMessageRunes); text != want {
				t.Errorf("mapLibvirtError(code %d, %.80q).Error() = %.200q, want %.200q", code, message, text, want)
			}
		}

		// A guest writes the description of an agent error: it must not
		// turn the error into a transport outcome.
		const prefix = "internal error: unable to execute QEMU agent command 'guest-exec': "
		if in.Code == libvirt.ERR_INTERNAL_ERROR && strings.HasPrefix(message, prefix) {
			if ae == nil || ae.Command != "guest-exec" || sentinel != nil {
				t.Errorf("mapLibvirtError(agent error %.80q) = %.200q, want an agent *Error for guest-exec", message, text)
			}
		}
	})
}

// checkSanitized reports what is wrong with a string that should have
// passed through guestagent.Sanitize with cap max (as guestagent's own
// tests check it).
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

// checkSanitizedText reports C0/C1 controls, format (bidi) characters and
// line or paragraph separators in an error text built from sanitised parts.
func checkSanitizedText(tb testing.TB, s string) {
	tb.Helper()
	if !utf8.ValidString(s) {
		tb.Errorf("error text %.200q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || 0x7f <= r && r < 0xa0 || r == 0x2028 || r == 0x2029 ||
			0x200b <= r && r <= 0x200f || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 || r == 0xfeff {
			tb.Errorf("error text %.200q contains %U", s, r)
			return
		}
	}
}

// TestMapLibvirtErrorGuestDescSpoof: the description of an agent error is
// the guest's text, embedded by libvirt in "unable to execute QEMU agent
// command 'X': DESC"; libvirt's own phrases written into it must not make
// the error read as "no channel" or "reply too large".
func TestMapLibvirtErrorGuestDescSpoof(t *testing.T) {
	for _, desc := range []string{
		"guest agent is not configured",
		"No complete agent response found\x1b[2J",
		"Unable to encode message payload",
	} {
		msg := "internal error: unable to execute QEMU agent command 'guest-exec': " + desc
		got := mapLibvirtError(libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Domain: libvirt.FROM_QEMU, Message: msg})
		var ae *guestagent.Error
		if !errors.As(got, &ae) {
			t.Errorf("mapLibvirtError(%q) = %q, want an agent *Error", msg, got)
		}
		for _, s := range transportSentinels {
			if errors.Is(got, s) {
				t.Errorf("mapLibvirtError(%q) matches %v", msg, s)
			}
		}
	}
}

// BenchmarkMapLibvirtErrorLarge maps 256 KiB and 1 MiB messages: plain text
// against floods; compare ns/op across the sizes for linearity.
func BenchmarkMapLibvirtErrorLarge(b *testing.B) {
	for _, n := range []int{256 << 10, 1 << 20} {
		inputs := map[string]string{
			"plain":       "internal error: unable to execute QEMU agent command 'guest-exec': " + strings.Repeat("x", n),
			"newlines":    strings.Repeat("\n", n),
			"prefixflood": strings.Repeat("unable to execute QEMU agent command '", n/38),
			"bidi":        "internal error: unable to execute QEMU agent command 'guest-exec': " + strings.Repeat("\u202E", n/3),
		}
		for _, name := range []string{"plain", "newlines", "prefixflood", "bidi"} {
			in := libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR, Domain: libvirt.FROM_QEMU, Message: inputs[name]}
			b.Run(name+"/"+libvirtFuzzSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.Message)))
				for b.Loop() {
					_ = mapLibvirtError(in)
				}
			})
		}
	}
}

// libvirtFuzzSize names a size for a sub-benchmark: "256KiB", "1MiB".
func libvirtFuzzSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
