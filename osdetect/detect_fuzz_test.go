package osdetect_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// detectGuest is a guest agent that answers guest-get-osinfo and guest-exec
// with raw replies and guest-exec-status with a finished process; "" as the
// osinfo reply is an agent that does not answer.
func detectGuest(osinfo, exec string, stdout []byte, code int, signal bool) guestagent.Transport {
	return guestagent.TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
		var r struct {
			Execute string `json:"execute"`
		}
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, err
		}
		switch r.Execute {
		case "guest-get-osinfo":
			if osinfo == "" {
				return nil, guestagent.ErrUnresponsive
			}
			return []byte(osinfo), nil
		case "guest-exec":
			return []byte(exec), nil
		case "guest-exec-status":
			st := map[string]any{"exited": true, "out-data": base64.StdEncoding.EncodeToString(stdout)}
			if signal {
				st["signal"] = code
			} else {
				st["exitcode"] = code
			}
			return json.Marshal(map[string]any{"return": st})
		}
		return []byte(`{"error":{"class":"CommandNotFound","desc":"The command ` + r.Execute + ` has not been found"}}`), nil
	})
}

// FuzzDetect runs Detect against an agent whose guest-get-osinfo and
// guest-exec replies are fuzzed, and whose cmd.exe probe prints fuzzed
// output. Properties: no panic; a known family exactly when there is no
// error; the source says which path was taken; ID, Name and Version are
// sanitised and at most 128 runes; the error text (the checker puts it in
// Result.Reason as it is) has no control or format characters.
func FuzzDetect(f *testing.F) {
	const (
		pid      = `{"return":{"pid":7}}`
		spawn    = `{"error":{"class":"GenericError","desc":"Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"}}`
		disabled = `{"error":{"class":"CommandNotFound","desc":"Command guest-exec has been disabled"}}`
		noID     = `{"return":{"kernel-release":"6.1.0-13-amd64","machine":"x86_64"}}`
		ver      = "\r\nMicrosoft Windows [Version 10.0.19045.5011]\r\n"
	)
	paths, _ := filepath.Glob("../testdata/qga/*osinfo*.jsonl")
	paths = append(paths, "../testdata/qga/linux-basic.jsonl")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, line := range strings.Split(string(b), "\n") {
			var e struct {
				Request struct{ Execute string } `json:"request"`
				Reply   json.RawMessage          `json:"reply"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Request.Execute == "guest-get-osinfo" && e.Reply != nil {
				f.Add(string(e.Reply), pid, []byte(ver), 0, false)
			}
		}
	}
	f.Add(noID, pid, []byte(ver), 0, false)
	f.Add(noID, pid, []byte("Microsoft Windows [Versión 6.1.7601]"), 0, false)
	f.Add(noID, spawn, []byte(nil), 0, false)
	f.Add(noID, disabled, []byte(nil), 0, false)
	f.Add(noID, pid, []byte(ver), 1, false)
	f.Add(noID, pid, []byte(ver), -1073741510, true)
	f.Add(`{"error":{"class":"CommandNotFound","desc":"The command guest-get-osinfo has not been found"}}`, pid, []byte("Microsoft Windows\x1b[2J\u202E"), 0, false)
	f.Add("", pid, []byte(nil), 0, false)
	f.Add(`{"return":{"id":"mswindows","version-id":"N/A","kernel-version":"10.0","kernel-release":"19045"}}`, pid, []byte(nil), 0, false)
	f.Add(`{"return":{"id":"\u202Edebian\n","pretty-name":"a\u0000b\u2028c"}}`, pid, []byte(nil), 0, false)
	// Large: floods in the osinfo reply, the exec reply and the probe's output.
	const n = 1 << 20
	big := map[string]string{
		"newlines": strings.Repeat("\n", n),
		"ff":       strings.Repeat("\xff", n),
		"braces":   strings.Repeat("{}", n/2),
		"nesting":  strings.Repeat("[", n),
		"objects":  strings.Repeat(`{"a":`, n/5),
	}
	for _, s := range big {
		f.Add(s, s, []byte(s), 0, false)
	}
	f.Add(`{"return":{"id":"`+strings.Repeat("d", n)+`","pretty-name":"`+strings.Repeat("\\u202e", n/6)+`"}}`, pid, []byte(nil), 0, false)
	f.Add(noID, pid, []byte(strings.Repeat("Microsoft Windows [", n/19)), 0, false)
	f.Add(noID, pid, []byte("Microsoft Windows ["+strings.Repeat("1.", n/2)+"]"), 0, false)
	f.Add(noID, `{"error":{"class":"GenericError","desc":"`+strings.Repeat("No such file or directory \\u001b", n/32)+`"}}`, []byte(nil), 0, false)
	f.Fuzz(func(t *testing.T, osinfo, exec string, stdout []byte, code int, signal bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := guestagent.New(detectGuest(osinfo, exec, stdout, code, signal))
		info, err := osdetect.Detect(ctx, c)
		switch info.Family {
		case osdetect.Linux, osdetect.Windows:
			if err != nil {
				t.Errorf("Detect() = %+v with error %v", info, err)
			}
		case osdetect.Unknown:
			if err == nil {
				t.Errorf("Detect() = %+v without an error", info)
			}
		default:
			t.Errorf("Detect() family %q", info.Family)
		}
		switch info.Source {
		case osdetect.SourceOSInfo, osdetect.SourceProbe:
		case "":
			if info.Family != osdetect.Unknown {
				t.Errorf("Detect() = %+v without a source", info)
			}
		default:
			t.Errorf("Detect() source %q", info.Source)
		}
		for _, s := range []string{info.ID, info.Name, info.Version} {
			checkInfoString(t, s, 128)
		}
		if err != nil {
			checkErrorText(t, err.Error())
		}
	})
}

// checkInfoString reports a string that Sanitize(…, max) would change.
func checkInfoString(t *testing.T, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		t.Errorf("%q: invalid UTF-8 or more than %d runes", s, max)
	}
	if s != strings.TrimSpace(s) || strings.Contains(s, "  ") {
		t.Errorf("%q: untrimmed or doubled space", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) && r != ' ' {
			t.Errorf("%q contains %U", s, r)
			return
		}
	}
}

// checkErrorText reports control and format characters (bidi overrides,
// line separators) in an error text a guest may have written into.
func checkErrorText(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Errorf("error text %s contains %U", clip(s), r)
			return
		}
	}
}

// clip quotes s, cut to 200 bytes.
func clip(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%q…", s[:200])
	}
	return fmt.Sprintf("%q", s)
}
