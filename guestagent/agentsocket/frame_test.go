package agentsocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/vmcheck/vmcheck/guestagent"
)

// frameOutcome is what a frameReader makes of a whole stream: its frames,
// then how it ended.
type frameOutcome struct {
	frames []frame
	end    string // "eof", "unexpected eof", "too large"
}

func (o frameOutcome) String() string {
	var b bytes.Buffer
	for _, f := range o.frames {
		if f.delimited {
			b.WriteString("[FF]")
		}
		fmt.Fprintf(&b, "%q ", f.line)
	}
	return b.String() + o.end
}

func endOf(err error) string {
	switch {
	case errors.Is(err, guestagent.ErrReplyTooLarge):
		return "too large"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected eof"
	case errors.Is(err, io.EOF):
		return "eof"
	}
	return "error: " + err.Error()
}

// readAll runs a frameReader over r until it fails.
func readAll(t testing.TB, r io.Reader, max int) frameOutcome {
	t.Helper()
	fr := newFrameReader(r, max)
	var o frameOutcome
	for i := 0; ; i++ {
		f, err := fr.next()
		if err != nil {
			o.end = endOf(err)
			return o
		}
		if i > 1<<20 {
			t.Fatal("frameReader does not end")
		}
		o.frames = append(o.frames, f)
	}
}

// referenceFrames is the framing rule, one byte at a time: 0xFF drops the
// pending bytes and marks the next frame delimited, '\n' ends a frame
// unless it is blank, and pending bytes beyond max are an error.
func referenceFrames(data []byte, max int) frameOutcome {
	var o frameOutcome
	var line []byte
	delimited := false
	for _, b := range data {
		switch b {
		case 0xFF:
			line, delimited = line[:0], true
		case '\n':
			if len(bytes.TrimSpace(line)) == 0 {
				line = line[:0]
				continue
			}
			o.frames = append(o.frames, frame{line: bytes.Clone(line), delimited: delimited})
			line, delimited = line[:0], false
		default:
			line = append(line, b)
			if len(line) > max {
				o.end = "too large"
				return o
			}
		}
	}
	if len(bytes.TrimSpace(line)) > 0 {
		o.end = "unexpected eof"
	} else {
		o.end = "eof"
	}
	return o
}

func sameOutcome(a, b frameOutcome) bool {
	if a.end != b.end || len(a.frames) != len(b.frames) {
		return false
	}
	for i := range a.frames {
		if a.frames[i].delimited != b.frames[i].delimited || !bytes.Equal(a.frames[i].line, b.frames[i].line) {
			return false
		}
	}
	return true
}

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"one reply", "{\"return\": {}}\n", 64, `"{\"return\": {}}" eof`},
		{"resync as qemu-ga sends it", "{\"error\": {}}\n\xff{\"return\": 42}\n{\"return\": {}}\n", 64,
			`"{\"error\": {}}" [FF]"{\"return\": 42}" "{\"return\": {}}" eof`},
		{"garbage before the delimiter is dropped", "junk{\"ret\xff{\"return\": 1}\n", 64, `[FF]"{\"return\": 1}" eof`},
		{"stray 0xFF bytes", "\xff\xff\xff{\"return\": 1}\n", 64, `[FF]"{\"return\": 1}" eof`},
		{"blank lines skipped, delimiter kept", "\n\r\n\xff  \n{\"return\": 1}\n", 64, `[FF]"{\"return\": 1}" eof`},
		{"CRLF kept in the line", "{\"return\": 1}\r\n", 64, `"{\"return\": 1}\r" eof`},
		{"cut reply", "{\"return\": {\"pid\"", 64, "unexpected eof"},
		{"cut after delimiter", "\xff", 64, "eof"},
		{"exactly max", "0123456789\n", 10, `"0123456789" eof`},
		{"one over max", "0123456789A\n", 10, "too large"},
		{"over max before a delimiter", "0123456789A\xff{}\n", 10, "too large"},
		{"frames before an oversize line", "{}\n0123456789AB", 10, `"{}" too large`},
		{"empty", "", 10, "eof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", bytes.NewReader([]byte(tc.in))},
				{"byte by byte", iotest.OneByteReader(bytes.NewReader([]byte(tc.in)))},
				{"half", iotest.HalfReader(bytes.NewReader([]byte(tc.in)))},
				{"data with EOF", iotest.DataErrReader(bytes.NewReader([]byte(tc.in)))},
			} {
				if got := readAll(t, r.r, tc.max).String(); got != tc.want {
					t.Errorf("%s: frames(%q) = %s, want %s", r.name, tc.in, got, tc.want)
				}
			}
			if got := referenceFrames([]byte(tc.in), tc.max).String(); got != tc.want {
				t.Errorf("reference(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// chunkReader returns data in reads whose sizes cycle through sizes
// (0 means an empty read with no error).
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)] % 9)
		r.i++
		if n == 0 && r.i%len(r.sizes) == 0 {
			n = 1 // never an endless run of empty reads
		}
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzFrameReader checks the framing decoder against the byte-at-a-time
// rule for any stream (stray 0xFF, garbage, oversize and cut lines) split
// into any reads: same frames, same end, whatever the split.
func FuzzFrameReader(f *testing.F) {
	for _, s := range []string{
		"{\"return\": {}}\n",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n\xff{\"return\": 42}\n",
		"garbage\x00\x01{\"ret\xff{\"return\": 7}\n{\"return\": {\"pid\": 1}}\n",
		"\xff\xff\n\xff",
		"{\"return\": \"" + string(bytes.Repeat([]byte("A"), 100)) + "\"}\n",
		"\n\n \t\r\n{}\n{",
	} {
		f.Add([]byte(s), []byte{1, 2, 3})
	}
	const max = 48
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		want := referenceFrames(data, max)
		got := readAll(t, &chunkReader{data: data, sizes: sizes}, max)
		if !sameOutcome(got, want) {
			t.Fatalf("frames(%q) split %v = %s, want %s", data, sizes, got, want)
		}
		for _, fr := range got.frames {
			if len(fr.line) > max || bytes.IndexByte(fr.line, '\n') >= 0 || bytes.IndexByte(fr.line, 0xFF) >= 0 ||
				len(bytes.TrimSpace(fr.line)) == 0 {
				t.Fatalf("bad frame %q from %q", fr.line, data)
			}
		}
	})
}
