package agentsocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agentsocket"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
)

const qga = "../../testdata/qga/"

// fakeAgent is a guest agent socket served in-process. Each accepted
// connection runs handle; the default handler answers like qemu-ga.
type fakeAgent struct {
	path  string
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
}

// agentConn is the agent's side of one connection.
type agentConn struct {
	net.Conn
	r *bufio.Reader
}

// request reads one request line; a leading 0xFF (the client's parser
// reset) is stripped.
func (c *agentConn) request() (execute string, args json.RawMessage, raw []byte, err error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return "", nil, nil, err
	}
	line = bytes.TrimSpace(line)
	for len(line) > 0 && line[0] == 0xFF {
		line = line[1:]
	}
	var req struct {
		Execute   string          `json:"execute"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return "", nil, line, fmt.Errorf("request %q: %w", line, err)
	}
	return req.Execute, req.Arguments, line, nil
}

// answerSync answers guest-sync-delimited the way qemu-ga does: first the
// complaint about the 0xFF, then 0xFF and the echoed id.
func (c *agentConn) answerSync(args json.RawMessage) error {
	var a struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n\xff{\"return\": %d}\n", a.ID)
	return err
}

// serve answers every request on c: guest-sync-delimited and guest-sync
// as qemu-ga does, anything else with answer(execute, raw request).
func (c *agentConn) serve(answer func(execute string, raw []byte) []byte) {
	for {
		execute, args, raw, err := c.request()
		if err != nil {
			return
		}
		switch execute {
		case "guest-sync-delimited":
			if c.answerSync(args) != nil {
				return
			}
			continue
		case "guest-sync":
			if _, err := fmt.Fprintf(c, "{\"return\": %s}\n", bytes.TrimSpace(idOf(args))); err != nil {
				return
			}
			continue
		}
		if _, err := c.Write(append(answer(execute, raw), '\n')); err != nil {
			return
		}
	}
}

func idOf(args json.RawMessage) json.RawMessage {
	var a struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(args, &a)
	return a.ID
}

// pong answers guest-ping with {} and anything else with CommandNotFound.
func pong(execute string, _ []byte) []byte {
	if execute == "guest-ping" {
		return []byte(`{"return": {}}`)
	}
	return []byte(`{"error": {"class": "CommandNotFound", "desc": "The command ` + execute + ` has not been found"}}`)
}

// startFakeAgent listens on a fresh socket; handle runs for the n-th
// accepted connection (n from 1), one connection at a time, like QEMU.
func startFakeAgent(t *testing.T, handle func(n int, c *agentConn)) *fakeAgent {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{path: path, ln: ln}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(a.conns.Add(1))
			handle(n, &agentConn{Conn: conn, r: bufio.NewReader(conn)})
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		a.wg.Wait()
	})
	return a
}

func qgaLike(_ int, c *agentConn) { c.serve(pong) }

func command(t *testing.T, s *agentsocket.Socket, timeout time.Duration, request string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Command(ctx, []byte(request))
}

func TestSocketCommand(t *testing.T) {
	a := startFakeAgent(t, qgaLike)
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	for i := range 3 {
		got, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`)
		if err != nil || string(got) != `{"return": {}}` {
			t.Fatalf("Command #%d = %q, %v; want {\"return\": {}}", i, got, err)
		}
	}
	if n := a.conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 back-to-back commands, want 1 (linger)", n)
	}
	// An agent error is a reply like any other: Client decodes it.
	err := guestagent.New(s).Ping(context.Background())
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	_, err = guestagent.New(s).Info(context.Background())
	if !errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("Info against an agent without guest-info: %v, want ErrCommandNotFound", err)
	}
}

// TestSocketTranscripts runs recorded agent sessions through a Socket: the
// protocol layer above the seam sees the same bytes as over libvirt.
func TestSocketTranscripts(t *testing.T) {
	for _, name := range []string{"linux-basic.jsonl", "linux-ping-reply.jsonl", "windows-ping.jsonl"} {
		t.Run(name, func(t *testing.T) {
			replay := agenttest.Replay(t, qga+name)
			a := startFakeAgent(t, func(_ int, c *agentConn) {
				c.serve(func(_ string, raw []byte) []byte {
					reply, err := replay.Command(context.Background(), raw)
					if err != nil {
						return []byte(`{"error": {"class": "GenericError", "desc": "transcript"}}`)
					}
					return reply
				})
			})
			direct := agenttest.Replay(t, qga+name)
			s := agentsocket.New(a.path, agentsocket.Options{})
			defer s.Close()
			for _, req := range transcriptRequests(t, qga+name) {
				want, werr := direct.Command(context.Background(), req)
				got, err := command(t, s, 2*time.Second, string(req))
				if werr != nil {
					continue // a recorded transport failure: nothing to relay
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("Command(%s) = %q, %v; want %q", req, got, err, want)
				}
			}
		})
	}
}

func transcriptRequests(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var e struct {
			Request json.RawMessage `json:"request"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, e.Request)
	}
	return out
}

// TestSocketResync: whatever precedes the reply to our guest-sync-delimited
// (a previous client's replies, garbage, another client's resync reply,
// a half line) is discarded.
func TestSocketResync(t *testing.T) {
	tests := []struct {
		name  string
		stale string // written by the agent before it reads anything
	}{
		{"stale reply", "{\"return\": {\"stale\": true}}\n"},
		{"garbage", "\x00\x01garbage }{ \r\n\n   \n"},
		{"half line", `{"return": {"pid": 12`},
		{"other resync", "\xff{\"return\": 1}\n"},
		{"stray 0xFF", "\xff\xff\xff"},
		{"late exec-status", `{"return": {"exited": true, "exitcode": 0, "out-data": "aGVsbG8K"}}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startFakeAgent(t, func(_ int, c *agentConn) {
				if _, err := c.Write([]byte(tc.stale)); err != nil {
					return
				}
				c.serve(pong)
			})
			s := agentsocket.New(a.path, agentsocket.Options{})
			defer s.Close()
			got, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`)
			if err != nil || string(got) != `{"return": {}}` {
				t.Fatalf("Command = %q, %v; want {\"return\": {}}", got, err)
			}
		})
	}
}

// TestSocketLateReply: a reply that comes after its command gave up must
// not be taken for the reply to the next command, even when it arrives on
// the next connection (QEMU's virtio-serial port keeps what the guest
// wrote while no client was connected).
func TestSocketLateReply(t *testing.T) {
	late := make(chan []byte, 1)
	a := startFakeAgent(t, func(n int, c *agentConn) {
		if n == 1 {
			// Answer the resync, then sit on guest-info.
			for {
				execute, args, _, err := c.request()
				if err != nil {
					return
				}
				if execute == "guest-sync-delimited" {
					_ = c.answerSync(args)
					continue
				}
				late <- []byte(`{"return": {"version": "late"}}` + "\n")
				_, _ = c.r.ReadByte() // until the client hangs up
				return
			}
		}
		select {
		case l := <-late:
			_, _ = c.Write(l) // before anything else on the new connection
		default:
		}
		c.serve(pong)
	})
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	start := time.Now()
	_, err := command(t, s, 200*time.Millisecond, `{"execute":"guest-info"}`)
	if !errors.Is(err, guestagent.ErrUnresponsive) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Command(guest-info) against a silent agent: %v, want ErrUnresponsive and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Command took %v with a 200ms deadline", d)
	}
	got, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`)
	if err != nil || string(got) != `{"return": {}}` {
		t.Fatalf("next Command = %q, %v; want {\"return\": {}}, not the late reply", got, err)
	}
	if n := a.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the timed-out one is dropped)", n)
	}
}

// TestSocketOneInFlight: concurrent callers each get the reply to their own
// request, and the agent never sees a second request before it answered
// the first.
func TestSocketOneInFlight(t *testing.T) {
	var overlap atomic.Int32
	a := startFakeAgent(t, func(_ int, c *agentConn) {
		for {
			execute, args, _, err := c.request()
			if err != nil {
				return
			}
			if execute == "guest-sync-delimited" {
				_ = c.answerSync(args)
				continue
			}
			// Anything more before we answer would be a second request in
			// flight.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
			if _, err := c.r.Peek(1); err == nil {
				overlap.Add(1)
			}
			_ = c.SetReadDeadline(time.Time{})
			fmt.Fprintf(c, "{\"return\": %s}\n", idOf(args))
		}
	})
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				id := g*100 + i
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				got, err := s.Command(ctx, fmt.Appendf(nil, `{"execute":"guest-sync","arguments":{"id":%d}}`, id))
				cancel()
				if want := fmt.Sprintf(`{"return": %d}`, id); err != nil || string(got) != want {
					errs <- fmt.Errorf("guest-sync %d = %q, %v; want %s", id, got, err, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := overlap.Load(); n > 0 {
		t.Errorf("the agent saw %d requests while one was in flight", n)
	}
}

// TestSocketWaitsForInFlight: a caller whose context ends while another
// command holds the socket gives up without sending.
func TestSocketWaitsForInFlight(t *testing.T) {
	release := make(chan struct{})
	a := startFakeAgent(t, func(_ int, c *agentConn) {
		c.serve(func(execute string, _ []byte) []byte {
			if execute == "guest-info" {
				<-release
			}
			return []byte(`{"return": {}}`)
		})
	})
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := command(t, s, 5*time.Second, `{"execute":"guest-info"}`)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_, err := command(t, s, 100*time.Millisecond, `{"execute":"guest-ping"}`)
	if !errors.Is(err, guestagent.ErrUnresponsive) || !strings.Contains(err.Error(), "still in flight") {
		t.Errorf("Command while another is in flight: %v, want ErrUnresponsive …still in flight", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the command in flight: %v", err)
	}
}

// TestSocketDeadlines: every read and write honours the context.
func TestSocketDeadlines(t *testing.T) {
	silent := func(_ int, c *agentConn) { _, _ = io.Copy(io.Discard, c.r) }
	noRead := func(_ int, c *agentConn) {
		_, args, _, _ := c.request()
		_ = c.answerSync(args)
		time.Sleep(500 * time.Millisecond) // reads nothing more meanwhile
	}
	huge := `{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"` + strings.Repeat("A", 32<<20) + `"}}`
	tests := []struct {
		name    string
		handle  func(int, *agentConn)
		request string
		opts    agentsocket.Options
		ctx     func() (context.Context, context.CancelFunc)
		want    error
	}{
		{name: "no resync reply", handle: silent, request: `{"execute":"guest-ping"}`,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 150*time.Millisecond)
			},
			want: context.DeadlineExceeded},
		{name: "write blocks", handle: noRead, request: huge,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 150*time.Millisecond)
			},
			want: context.DeadlineExceeded},
		{name: "cancel", handle: silent, request: `{"execute":"guest-ping"}`,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(150*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled},
		{name: "no deadline: Timeout", handle: silent, request: `{"execute":"guest-ping"}`,
			opts: agentsocket.Options{Timeout: 150 * time.Millisecond},
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			want: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startFakeAgent(t, tc.handle)
			s := agentsocket.New(a.path, tc.opts)
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := s.Command(ctx, []byte(tc.request))
			if d := time.Since(start); d > time.Second {
				t.Errorf("Command returned after %v, want about 150ms", d)
			}
			if !errors.Is(err, guestagent.ErrUnresponsive) || !errors.Is(err, tc.want) {
				t.Errorf("Command = %v, want ErrUnresponsive and %v", err, tc.want)
			}
			a.ln.Close() // the handlers above never return by themselves
			s.Close()
		})
	}
}

// TestSocketReconnects: after any failure the next command starts afresh.
func TestSocketReconnects(t *testing.T) {
	tests := []struct {
		name  string
		first func(c *agentConn) // serves the first connection
		want  error
	}{
		{"agent hangs up", func(c *agentConn) {
			_, args, _, _ := c.request()
			_ = c.answerSync(args)
			_, _, _, _ = c.request()
		}, guestagent.ErrUnresponsive},
		{"reply too large", func(c *agentConn) {
			_, args, _, _ := c.request()
			_ = c.answerSync(args)
			_, _, _, _ = c.request()
			_, _ = c.Write([]byte(`{"return": "` + strings.Repeat("A", 16<<20) + `"}` + "\n"))
		}, guestagent.ErrReplyTooLarge},
		{"delimited reply to a command", func(c *agentConn) {
			_, args, _, _ := c.request()
			_ = c.answerSync(args)
			_, _, _, _ = c.request()
			_, _ = c.Write([]byte("\xff{\"return\": {}}\n"))
			_, _ = c.r.ReadByte()
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startFakeAgent(t, func(n int, c *agentConn) {
				if n == 1 {
					tc.first(c)
					return
				}
				c.serve(pong)
			})
			s := agentsocket.New(a.path, agentsocket.Options{})
			defer s.Close()
			_, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("first Command = %v, want %v", err, tc.want)
			}
			got, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`)
			if err != nil || string(got) != `{"return": {}}` {
				t.Fatalf("second Command = %q, %v; want a fresh connection's reply", got, err)
			}
			if n := a.conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

func TestSocketDialErrors(t *testing.T) {
	dir := t.TempDir()
	refused := filepath.Join(dir, "refused.sock")
	ln, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens: QEMU died

	tests := []struct {
		name, path string
		want       error
	}{
		{"no socket", filepath.Join(dir, "missing.sock"), guestagent.ErrNoChannel},
		{"nobody listens", refused, guestagent.ErrUnresponsive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := agentsocket.New(tc.path, agentsocket.Options{})
			_, err := command(t, s, time.Second, `{"execute":"guest-ping"}`)
			if !errors.Is(err, tc.want) {
				t.Errorf("Command = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the socket", err)
			}
		})
	}
}

func TestSocketLinger(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
		pause  time.Duration
		want   int32 // connections for three commands
	}{
		{"reuse within linger", 500 * time.Millisecond, 0, 1},
		{"close after linger", 30 * time.Millisecond, 150 * time.Millisecond, 3},
		{"close after every command", -1, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startFakeAgent(t, qgaLike)
			s := agentsocket.New(a.path, agentsocket.Options{Linger: tc.linger})
			defer s.Close()
			for i := range 3 {
				if _, err := command(t, s, 2*time.Second, `{"execute":"guest-ping"}`); err != nil {
					t.Fatalf("Command #%d: %v", i, err)
				}
				time.Sleep(tc.pause)
			}
			if n := a.conns.Load(); n != tc.want {
				t.Errorf("%d connections, want %d", n, tc.want)
			}
		})
	}
}

func TestSocketBeforeDial(t *testing.T) {
	a := startFakeAgent(t, qgaLike)
	busy := errors.New("held by another client")
	var calls atomic.Int32
	var refuse atomic.Bool
	refuse.Store(true)
	s := agentsocket.New(a.path, agentsocket.Options{BeforeDial: func(context.Context) error {
		calls.Add(1)
		if refuse.Load() {
			return fmt.Errorf("%w: %w", guestagent.ErrUnresponsive, busy)
		}
		return nil
	}})
	defer s.Close()
	if _, err := command(t, s, time.Second, `{"execute":"guest-ping"}`); !errors.Is(err, busy) {
		t.Fatalf("Command with BeforeDial refusing = %v, want its error", err)
	}
	if n := a.conns.Load(); n != 0 {
		t.Errorf("%d connections although BeforeDial refused", n)
	}
	refuse.Store(false)
	for range 2 {
		if _, err := command(t, s, time.Second, `{"execute":"guest-ping"}`); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("BeforeDial ran %d times, want 2 (once per new connection)", n)
	}
}

func TestSocketClosed(t *testing.T) {
	a := startFakeAgent(t, qgaLike)
	s := agentsocket.New(a.path, agentsocket.Options{})
	if _, err := command(t, s, time.Second, `{"execute":"guest-ping"}`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := command(t, s, time.Second, `{"execute":"guest-ping"}`); err == nil {
		t.Error("Command after Close succeeded")
	}
}
