package qemuhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamConn is a net.Conn that reads a fixed stream and discards writes.
type streamConn struct {
	r *bytes.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// streamMonitor is a connected monitor whose QEMU sends stream.
func streamMonitor(stream []byte) *monitor {
	conn := &streamConn{r: bytes.NewReader(stream)}
	return &monitor{
		ctx: context.Background(), path: "fuzz.qmp", cancel: func() {},
		conn: conn, r: bufio.NewReaderSize(conn, 64<<10), stop: func() bool { return true },
	}
}

// qmpFloods returns QMP streams of about n bytes.
func qmpFloods(n int) map[string][]byte {
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), max(n/len(s), 1)) }
	fl := qemuhostFloods(n)
	fl["events"] = append(rep(`{"event":"NIC_RX_FILTER_CHANGED","data":{"path":"/machine/peripheral/net0/virtio-backend"},"timestamp":{"seconds":1,"microseconds":2}}`+"\n"), `{"return":{}}`+"\n"...)
	fl["bigreturn"] = append(append([]byte(`{"return":[`), rep(`{"name":"net0","main-mac":"bc:24:11:2e:c8:9b"},`)...), `{}]}`+"\n"...)
	fl["bigerror"] = append(append([]byte(`{"error":{"class":"GenericError","desc":"`), rep(`\u202e\n`)...), `"}}`+"\n"...)
	fl["spaces"] = append(rep(" \t\r\n"), `{"return":{}}`+"\n"...)
	fl["objects"] = rep(`{"a":`)
	return fl
}

// FuzzQMPRun feeds a monitor's Run any stream from QEMU, including floods
// of 1 and 4 MiB and lines just over maxQMPLine. Properties: no panic; a
// reply is one trimmed line of at most maxQMPLine bytes holding a JSON
// object with "return"; an error reply is a *QMPError naming the command.
func FuzzQMPRun(f *testing.F) {
	f.Add([]byte(`{"return": {"name": "web-1"}}` + "\n"))
	f.Add([]byte(`{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}` + "\n" + `{"return": {}}` + "\n"))
	f.Add([]byte(`{"error": {"class": "CommandNotFound", "desc": "The command query-rx-filter has not been found"}}` + "\n"))
	f.Add([]byte(`{"return": null}` + "\n"))
	f.Add([]byte(`{"return": {}}`))
	f.Add([]byte("\n\n  \r\n"))
	for _, b := range qmpFloods(1 << 20) {
		f.Add(b)
	}
	big := qmpFloods(maxQMPLine)
	for _, name := range []string{"newlines", "events", "bigreturn", "bigerror"} {
		f.Add(big[name])
	}
	f.Add(append(bytes.Repeat([]byte("x"), maxQMPLine), '\n'))
	f.Add(append(append([]byte(`{"return":"`), bytes.Repeat([]byte("x"), maxQMPLine-14)...), `"}`+"\n"...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		m := streamMonitor(stream)
		out, err := m.Run([]byte(`{"execute":"query-name"}`))
		if err != nil {
			var qerr *QMPError
			if errors.As(err, &qerr) && qerr.Command != "query-name" {
				t.Errorf("QMPError for command %q", qerr.Command)
			}
			return
		}
		if len(out) > maxQMPLine || len(out) == 0 || bytes.ContainsRune(out, '\n') || !bytes.Equal(out, bytes.TrimSpace(out)) {
			t.Errorf("reply of %d bytes is not one trimmed line of at most %d", len(out), maxQMPLine)
		}
		var r map[string]json.RawMessage
		if err := json.Unmarshal(out, &r); err != nil || r["return"] == nil {
			t.Errorf("reply %.80q has no return value", out)
		}
	})
}

// FuzzQMPReadLine reads every line of a stream: each is non-empty, trimmed,
// without a newline and at most maxQMPLine bytes, and the lines never hold
// more than the stream.
func FuzzQMPReadLine(f *testing.F) {
	f.Add([]byte("{\"QMP\": {}}\r\n\n{\"return\": {}}\n  tail"))
	for _, b := range qmpFloods(1 << 20) {
		f.Add(b)
	}
	f.Add(bytes.Repeat([]byte("y"), maxQMPLine+1))
	f.Fuzz(func(t *testing.T, stream []byte) {
		m := streamMonitor(stream)
		total := 0
		for {
			line, err := m.readLine()
			if err != nil {
				if total > len(stream) {
					t.Errorf("read %d bytes of lines from a %d-byte stream", total, len(stream))
				}
				return
			}
			total += len(line)
			if len(line) == 0 || len(line) > maxQMPLine || bytes.ContainsRune(line, '\n') || !bytes.Equal(line, bytes.TrimSpace(line)) {
				t.Fatalf("line of %d bytes: empty, untrimmed, with a newline or over %d", len(line), maxQMPLine)
			}
		}
	})
}

// qmpServer is a unix socket that answers each connection with a stream.
type qmpServer struct {
	path string
	ln   net.Listener
	mu   sync.Mutex
	next []byte
}

func newQMPServer(tb testing.TB) *qmpServer {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "fuzz.qmp")
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	s := &qmpServer{path: path, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			stream := s.next
			s.mu.Unlock()
			go func() {
				defer c.Close()
				done := make(chan struct{})
				go func() { _, _ = io.Copy(io.Discard, c); close(done) }()
				_, _ = c.Write(stream)
				_ = c.(*net.UnixConn).CloseWrite()
				<-done // until the client hangs up
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return s
}

// FuzzQMPConnect runs the QMP handshake against a socket that sends any
// stream, then one command: no panic, no hang (the context ends the
// session after 5 s), and after a failed Connect the monitor is closed (Run
// fails without I/O).
func FuzzQMPConnect(f *testing.F) {
	greeting := `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}` + "\n"
	f.Add([]byte(greeting + `{"return": {}}` + "\n" + `{"return": {"name": "web-1"}}` + "\n"))
	f.Add([]byte(greeting + `{"error": {"class": "CommandNotFound", "desc": "x"}}` + "\n"))
	f.Add([]byte(`{"QMP": null}` + "\n"))
	f.Add([]byte("not json\n"))
	f.Add([]byte(""))
	for _, name := range []string{"newlines", "longline", "events", "bigerror", "ff"} {
		f.Add(qmpFloods(1 << 20)[name])
	}
	f.Add([]byte(greeting + strings.Repeat(`{"event":"RESUME"}`+"\n", 1<<16) + `{"return": {}}` + "\n"))
	srv := newQMPServer(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		srv.mu.Lock()
		srv.next = stream
		srv.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m := &monitor{ctx: ctx, path: srv.path, cancel: cancel}
		if err := m.Connect(); err != nil {
			if _, rerr := m.Run([]byte(`{"execute":"query-name"}`)); rerr == nil {
				t.Errorf("Run after a failed Connect (%v) succeeded", err)
			}
		} else {
			_, _ = m.Run([]byte(`{"execute":"query-name"}`))
			if err := m.Disconnect(); err != nil {
				t.Errorf("Disconnect: %v", err)
			}
		}
	})
}

// BenchmarkQMPRunLarge reads 256 KiB and 1 MiB of QMP before the reply:
// one large reply line against floods of empty lines and events.
func BenchmarkQMPRunLarge(b *testing.B) {
	for _, n := range []int{256 << 10, 1 << 20} {
		fl := qmpFloods(n)
		inputs := []struct {
			name string
			data []byte
		}{
			{"plain", fl["bigreturn"]},
			{"newlines", append(fl["newlines"], `{"return":{}}`+"\n"...)},
			{"spaces", fl["spaces"]},
			{"events", fl["events"]},
		}
		for _, in := range inputs {
			b.Run(in.name+"/"+qemuhostSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := streamMonitor(in.data).Run([]byte(`{"execute":"query-rx-filter"}`)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
