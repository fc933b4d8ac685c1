// Package agentsocket is a guestagent.Transport that talks to a QEMU guest
// agent's unix socket directly, without libvirt: the transport of the
// plain-QEMU and Proxmox VE hosts (qemuhost). Replies are capped per
// command (guestagent.ReplyLimit) while they are read, and failures wrap
// guestagent's sentinels.
package agentsocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds a command whose context has no deadline,
	// as libvirt's default agent timeout does.
	DefaultTimeout = 5 * time.Second
	// DefaultLinger is how long a Socket keeps its connection after a
	// command, for the next one. qemu-ga polls a virtio-serial port whose
	// host side is closed only every 100 ms, so each reconnect costs up to
	// that: measured against qemu-ga 7.2 in a lab guest, a whole check took
	// 1.3 s closing after every command and 0.12 s (as over libvirt) with
	// this linger, which spans the back-to-back commands of a check.
	DefaultLinger = 100 * time.Millisecond
)

// delimiter is the byte the agent writes before its reply to
// guest-sync-delimited, and the byte a client writes to make the agent's
// JSON parser drop a half-received request.
const delimiter = 0xFF

// syncReplyLimit bounds a reply line read before the command's own limit
// applies: the resynchronisation's, and what is discarded up to it.
var syncReplyLimit = guestagent.ReplyLimit("guest-sync-delimited")

// readChunk is how much a frameReader asks the connection for at a time.
const readChunk = 64 << 10

// Options tune a Socket. The zero value gives the defaults.
type Options struct {
	// Timeout bounds a command whose context carries no deadline; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Linger keeps the connection open this long after a successful
	// command, so that the next one skips the reconnect and resync; 0
	// means DefaultLinger, a negative value closes the connection after
	// every command. The agent's end admits one client at a time: while
	// vmcheck holds the connection, other clients (Proxmox's own agent
	// calls) wait.
	Linger time.Duration
	// BeforeDial, if set, runs before every new connection. An error
	// aborts the command and is returned unchanged (wrap a sentinel). The
	// QMP host source uses it to back off when another client holds the
	// agent socket.
	BeforeDial func(ctx context.Context) error
}

// Socket is a Transport to one guest agent over a unix socket: the
// chardev socket QEMU serves for the agent's virtio-serial port
// (`-chardev socket,path=….qga,server=on,wait=off`, Proxmox VE's
// /var/run/qemu-server/<vmid>.qga), or qemu-ga's own `-m unix-listen`
// socket.
//
// Each new connection is resynchronised before use: Socket writes 0xFF (the
// agent drops any half-read request) and guest-sync-delimited with a random
// id, then discards everything up to the 0xFF-prefixed reply carrying that
// id, so a reply left over from an earlier client or an abandoned command
// is never taken for the answer to the next one. Any error (deadline,
// I/O, framing) closes the connection; the next command reconnects.
//
// One command is in flight at a time; others wait for it, as long as their
// context allows. Every read and write honours the command's context:
// its deadline, or Options.Timeout when it has none, and its
// cancellation. A reply longer than its command's ReplyLimit fails with
// ErrReplyTooLarge as soon as the limit is passed.
//
// A Socket is safe for concurrent use.
type Socket struct {
	path string
	opts Options
	sem  chan struct{} // holds a token while a command or the idle closer runs

	// Guarded by sem.
	conn     net.Conn
	frames   *frameReader
	lastUsed time.Time

	mu     sync.Mutex // guards timer and closed
	timer  *time.Timer
	closed bool
}

var _ guestagent.Transport = (*Socket)(nil)

// New returns a Socket for the agent listening at path. It connects on
// the first command.
func New(path string, opts Options) *Socket {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	return &Socket{path: path, opts: opts, sem: make(chan struct{}, 1)}
}

// Path returns the socket's path.
func (s *Socket) Path() string { return s.path }

// Close closes the connection, after the command in flight (if any); later
// commands fail.
func (s *Socket) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	return s.drop()
}

// Command sends one request and returns the agent's reply line, e.g.
// {"return":{}} or {"error":{…}}.
func (s *Socket) Command(ctx context.Context, request []byte) ([]byte, error) {
	cmd := guestagent.CommandName(request)
	if err := ctx.Err(); err != nil {
		return nil, guestagent.WrapSentinel(guestagent.ErrUnresponsive, err, fmt.Sprintf("%s not sent: %v", cmd, err))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, guestagent.WrapSentinel(guestagent.ErrUnresponsive, ctx.Err(),
			fmt.Sprintf("%s not sent: another command to %s was still in flight: %v", cmd, s.path, ctx.Err()))
	}
	defer func() { <-s.sem }()

	s.mu.Lock()
	closed := s.closed
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: agent socket %s: transport closed", cmd, s.path)
	}

	reply, err := s.exchange(ctx, cmd, request)
	if err != nil {
		_ = s.drop()
		return nil, err
	}
	s.lastUsed = time.Now()
	if s.opts.Linger < 0 {
		_ = s.drop()
	} else {
		s.mu.Lock()
		if !s.closed {
			s.timer = time.AfterFunc(s.opts.Linger, s.closeIdle)
		}
		s.mu.Unlock()
	}
	return reply, nil
}

// exchange connects if needed and runs one request. The caller holds sem
// and drops the connection on error.
func (s *Socket) exchange(ctx context.Context, cmd string, request []byte) ([]byte, error) {
	if s.conn == nil {
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	// Every read and write below ends at the deadline, or at once when ctx
	// is cancelled. When the cancellation races with the end of the
	// command, the connection's deadline may be left in the past: drop it.
	conn := s.conn
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, s.ioError(ctx, cmd, "set deadline", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			_ = s.drop()
		}
	}()

	s.frames.max = guestagent.ReplyLimit(cmd)
	msg := net.Buffers{bytes.TrimSpace(request), []byte("\n")}
	if _, err := msg.WriteTo(conn); err != nil {
		return nil, s.ioError(ctx, cmd, "send", err)
	}
	f, err := s.frames.next()
	if err != nil {
		return nil, s.ioError(ctx, cmd, "read reply", err)
	}
	if f.delimited {
		// Only guest-sync-delimited replies are delimited, and the only
		// one sent on this connection was answered during the resync.
		return nil, fmt.Errorf("%s: agent at %s sent an unexpected 0xFF-delimited reply: %w", cmd, s.path, errProtocol)
	}
	return f.line, nil
}

// connect dials the socket and resynchronises the stream.
func (s *Socket) connect(ctx context.Context) error {
	if s.opts.BeforeDial != nil {
		if err := s.opts.BeforeDial(ctx); err != nil {
			return err
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", s.path)
	if err != nil {
		return s.dialError(ctx, err)
	}
	s.conn, s.frames = conn, newFrameReader(conn, syncReplyLimit)
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return s.ioError(ctx, "guest-sync-delimited", "set deadline", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	id := rand.Int64N(1 << 53) // exact in every JSON implementation
	msg := fmt.Appendf([]byte{delimiter}, `{"execute":"guest-sync-delimited","arguments":{"id":%d}}`+"\n", id)
	if _, err := conn.Write(msg); err != nil {
		return s.ioError(ctx, "guest-sync-delimited", "send", err)
	}
	s.frames.max = syncReplyLimit
	for {
		f, err := s.frames.next()
		if err != nil {
			return s.ioError(ctx, "guest-sync-delimited", "resync", err)
		}
		if !f.delimited {
			continue // stale reply, or the agent's complaint about the 0xFF
		}
		var r struct {
			Return *int64 `json:"return"`
		}
		if json.Unmarshal(f.line, &r) == nil && r.Return != nil && *r.Return == id {
			return nil
		}
		// Another client's resync reply: keep looking for ours.
	}
}

// drop closes the connection, if any. The caller holds sem.
func (s *Socket) drop() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.frames = nil, nil
	return err
}

// closeIdle closes a connection unused for Linger. It never waits: a
// command in flight re-arms the timer when it ends.
func (s *Socket) closeIdle() {
	select {
	case s.sem <- struct{}{}:
	default:
		return
	}
	defer func() { <-s.sem }()
	if s.conn != nil && time.Since(s.lastUsed) >= s.opts.Linger {
		_ = s.drop()
	}
}

// dialError maps a failed connect.
func (s *Socket) dialError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return guestagent.WrapSentinel(guestagent.ErrUnresponsive, errors.Join(ctx.Err(), err),
			fmt.Sprintf("connect to %s: %v", s.path, ctx.Err()))
	case errors.Is(err, syscall.ENOENT):
		return guestagent.WrapSentinel(guestagent.ErrNoChannel, err, fmt.Sprintf("no agent socket at %s", s.path))
	case errors.Is(err, syscall.ECONNREFUSED):
		return guestagent.WrapSentinel(guestagent.ErrUnresponsive, err,
			fmt.Sprintf("nothing listens on %s (QEMU or the agent is not running)", s.path))
	}
	return fmt.Errorf("connect to agent socket %s: %w", s.path, err)
}

// ioError maps a failed read or write on the connection.
func (s *Socket) ioError(ctx context.Context, cmd, op string, err error) error {
	switch {
	case errors.Is(err, guestagent.ErrReplyTooLarge), errors.Is(err, errProtocol):
		return fmt.Errorf("%s: %s from %s: %w", cmd, op, s.path, err)
	case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		return guestagent.WrapSentinel(guestagent.ErrUnresponsive, errors.Join(cause, err),
			fmt.Sprintf("%s: no reply from %s in time (%s)", cmd, s.path, op))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return guestagent.WrapSentinel(guestagent.ErrUnresponsive, err,
			fmt.Sprintf("%s: %s: connection to %s closed by the other end", cmd, op, s.path))
	}
	return fmt.Errorf("%s: %s on agent socket %s: %w", cmd, op, s.path, err)
}

// errProtocol marks a byte stream that breaks the agent protocol.
var errProtocol = errors.New("guest agent protocol error")

// frame is one reply line from the agent.
type frame struct {
	// line is the reply without its newline; it never holds '\n' or 0xFF
	// and is never blank.
	line []byte
	// delimited means 0xFF preceded the line: a guest-sync-delimited reply.
	delimited bool
}

// frameReader splits the agent's byte stream into frames. A reply is one
// JSON text ended by '\n' (qemu-ga writes no raw newline inside one). 0xFF
// marks the start of a guest-sync-delimited reply: whatever was pending
// before it is dropped, as the protocol asks of clients. Blank lines are
// skipped. A line longer than max fails with ErrReplyTooLarge, an end of
// stream inside a line with io.ErrUnexpectedEOF. After an error the reader
// must not be used again.
//
// Time is linear in the bytes read whatever they are: the positions of the
// next '\n' and the next 0xFF are each searched for once and remembered
// until the reader passes them, so a flood of either byte costs no more
// than plain data.
type frameReader struct {
	r         io.Reader
	max       int
	buf       []byte // read buffer; buf[start:end] is unread
	start     int
	end       int
	nl, ff    int    // next '\n' and 0xFF in buf at or after start; end if none; -1 if unknown
	line      []byte // the line being gathered
	delimited bool   // 0xFF seen since the last frame
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max, buf: make([]byte, readChunk), nl: -1, ff: -1}
}

// next returns the next frame.
func (fr *frameReader) next() (frame, error) {
	for {
		if fr.start == fr.end {
			if err := fr.fill(); err != nil {
				return frame{}, err
			}
			continue
		}
		if len(fr.line) == 0 && fr.skipBlank() {
			continue
		}
		nl, ff := fr.find(&fr.nl, '\n'), fr.find(&fr.ff, delimiter)
		switch {
		case ff < nl:
			// Drop what was gathered: a fresh, delimited reply begins.
			// (The dropped bytes still count against max, so the outcome
			// does not depend on how reads split the stream.)
			if err := fr.gather(fr.buf[fr.start:ff]); err != nil {
				return frame{}, err
			}
			fr.line, fr.delimited, fr.start = fr.line[:0], true, ff+1
		case nl < fr.end:
			if err := fr.gather(fr.buf[fr.start:nl]); err != nil {
				return frame{}, err
			}
			fr.start = nl + 1
			if f, ok := fr.emit(); ok {
				return f, nil
			}
		default:
			if err := fr.gather(fr.buf[fr.start:fr.end]); err != nil {
				return frame{}, err
			}
			fr.start = fr.end
		}
	}
}

// skipBlank passes, in one tight loop, over a run of blank lines and
// delimiters where a line starts: all such a run can do is set delimited.
// It reports whether it moved. White space after the run's last newline or
// 0xFF is left to be gathered, and a blank line longer than max is left to
// the normal path, which fails it: the outcome is the same as byte by byte.
func (fr *frameReader) skipBlank() bool {
	b := fr.buf[fr.start:fr.end]
	last, sawFF, ws := -1, false, 0
scan:
	for i := 0; i < len(b); i++ {
		switch blankClass[b[i]] {
		case blankOther:
			break scan
		case blankSpace:
			if ws++; ws > fr.max {
				break scan // a blank line too long: the normal path fails it
			}
			continue
		case blankFF:
			sawFF = true
		}
		last, ws = i, 0
		// A run of the same byte goes by eight at a time, so a pure flood
		// passes at memory speed.
		if c := b[i]; i+9 <= len(b) && b[i+1] == c {
			w := uint64(c) * 0x0101_0101_0101_0101
			for i+9 <= len(b) && binary.LittleEndian.Uint64(b[i+1:]) == w {
				i += 8
			}
			last = i
		}
	}
	if last < 0 {
		return false
	}
	fr.start, fr.delimited = fr.start+last+1, fr.delimited || sawFF
	return true
}

// Byte classes for skipBlank.
const (
	blankOther = iota
	blankNL
	blankFF
	blankSpace
)

var blankClass = [256]uint8{'\n': blankNL, delimiter: blankFF, ' ': blankSpace, '\t': blankSpace, '\r': blankSpace, '\v': blankSpace, '\f': blankSpace}

// find returns the position of the next c at or after start, or end when
// there is none, searching only when the remembered position is stale.
func (fr *frameReader) find(pos *int, c byte) int {
	if *pos < fr.start {
		if i := bytes.IndexByte(fr.buf[fr.start:fr.end], c); i >= 0 {
			*pos = fr.start + i
		} else {
			*pos = fr.end
		}
	}
	return *pos
}

// emit ends the gathered line: a frame, or nothing for a blank line.
func (fr *frameReader) emit() (frame, bool) {
	if len(bytes.TrimSpace(fr.line)) == 0 {
		fr.line = fr.line[:0]
		return frame{}, false
	}
	f := frame{line: bytes.Clone(fr.line), delimited: fr.delimited}
	fr.line, fr.delimited = fr.line[:0], false
	if cap(fr.line) > readChunk {
		fr.line = nil // do not keep a large reply's buffer
	}
	return f, true
}

// fill reads the next chunk of the stream.
func (fr *frameReader) fill() error {
	n, err := fr.r.Read(fr.buf)
	fr.start, fr.end, fr.nl, fr.ff = 0, n, -1, -1
	if n > 0 || err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && len(bytes.TrimSpace(fr.line)) > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// gather appends b to the line being read, unless that makes it too long.
func (fr *frameReader) gather(b []byte) error {
	if len(fr.line)+len(b) > fr.max {
		return guestagent.WrapSentinel(guestagent.ErrReplyTooLarge, nil, fmt.Sprintf("a reply line exceeds %d bytes", fr.max))
	}
	fr.line = append(fr.line, b...)
	return nil
}
