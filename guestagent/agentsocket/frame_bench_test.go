package agentsocket

import (
	"bytes"
	"strings"
	"testing"
)

// frameStreams are 1 MiB agent streams: plain reply lines, and the floods
// a hostile agent can send between replies.
var frameStreams = []struct {
	name   string
	stream func() []byte
}{
	{"plain", func() []byte {
		line := `{"return":{"exited":true,"exitcode":0,"out-data":"` + strings.Repeat("QUJD", 1000) + `"}}` + "\n"
		return bytes.Repeat([]byte(line), 1<<20/len(line))
	}},
	{"ff-flood", func() []byte { return append(bytes.Repeat([]byte{0xFF}, 1<<20), "{}\n"...) }},
	{"newline-flood", func() []byte { return append(bytes.Repeat([]byte{'\n'}, 1<<20), "{}\n"...) }},
	{"ff-newline-mix", func() []byte { return append(bytes.Repeat([]byte{0xFF, '\n', ' '}, 1<<20/3), "{}\n"...) }},
}

// BenchmarkFrameReader reads each 1 MiB stream to its end: MB/s of the
// floods against plain data shows the reader's time is linear in the
// bytes, whatever they are.
func BenchmarkFrameReader(b *testing.B) {
	for _, s := range frameStreams {
		data := s.stream()
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				fr := newFrameReader(bytes.NewReader(data), 8<<20)
				for {
					if _, err := fr.next(); err != nil {
						break
					}
				}
			}
		})
	}
}
