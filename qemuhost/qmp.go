package qemuhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/hypervisor"
	"github.com/digitalocean/go-qemu/qmp"
)

// maxQMPLine caps one line from a QMP socket. The replies vmcheck asks for
// are a few KiB.
const maxQMPLine = 4 << 20

// errNotRunning means nothing serves the QMP socket: QEMU has exited and
// left the file behind, or the file is gone.
var errNotRunning = errors.New("QEMU is not running")

// QMPError is an error QEMU returned for a QMP command.
type QMPError struct {
	Command string
	Class   string // e.g. "CommandNotFound", "GenericError"
	Desc    string
}

// Error implements error.
func (e *QMPError) Error() string {
	return fmt.Sprintf("QMP %s: %s: %s", e.Command, e.Class, e.Desc)
}

// monitor is a qmp.Monitor on one QMP unix socket. Unlike
// qmp.SocketMonitor it is bound to a context: the dial, the greeting, the
// capabilities handshake and every command end at the context's deadline
// or cancellation, so a QEMU whose main loop hangs, or a QMP socket
// another client holds (QEMU serves one at a time), cannot stall the
// listing. go-qemu's Monitor methods take no context, hence the field. It
// reports no events: vmcheck holds QMP connections for a few commands
// only.
type monitor struct {
	ctx  context.Context
	path string

	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	stop   func() bool
	cancel context.CancelFunc
}

var _ qmp.Monitor = (*monitor)(nil)

// Connect dials the socket and performs the QMP handshake.
func (m *monitor) Connect() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d net.Dialer
	conn, err := d.DialContext(m.ctx, "unix", m.path)
	if err != nil {
		m.cancel()
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("QMP socket %s: %w", m.path, errNotRunning)
		}
		return fmt.Errorf("QMP socket %s: %w", m.path, err)
	}
	deadline, _ := m.ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	m.conn, m.r = conn, bufio.NewReaderSize(conn, 64<<10)
	m.stop = context.AfterFunc(m.ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	line, err := m.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			// Accepted from the backlog, then closed without a greeting:
			// QEMU was exiting.
			err = fmt.Errorf("%w (closed before the greeting)", errNotRunning)
		}
		return m.fail("greeting", err)
	}
	var greeting struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	if json.Unmarshal(line, &greeting) != nil || greeting.QMP == nil {
		return m.fail("greeting", fmt.Errorf("not a QMP greeting: %.80q", line))
	}
	if _, err := m.run([]byte(`{"execute":"qmp_capabilities"}`)); err != nil {
		return m.fail("qmp_capabilities", err)
	}
	return nil
}

// Disconnect closes the connection.
func (m *monitor) Disconnect() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cancel()
	if m.conn == nil {
		return nil
	}
	m.stop()
	err := m.conn.Close()
	m.conn = nil
	return err
}

// Run sends one command and returns QEMU's reply line. Events that arrive
// meanwhile are dropped; an error reply is a *QMPError.
func (m *monitor) Run(command []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return nil, fmt.Errorf("QMP socket %s: not connected", m.path)
	}
	out, err := m.run(command)
	if err != nil {
		var qerr *QMPError
		if errors.As(err, &qerr) {
			return nil, err
		}
		return nil, m.timeout(err)
	}
	return out, nil
}

// Events reports that this monitor delivers no events.
func (m *monitor) Events(context.Context) (<-chan qmp.Event, error) {
	return nil, qmp.ErrEventsNotSupported
}

func (m *monitor) run(command []byte) ([]byte, error) {
	var req struct {
		Execute string `json:"execute"`
	}
	_ = json.Unmarshal(command, &req)
	if _, err := m.conn.Write(append(bytes.TrimSpace(command), '\n')); err != nil {
		return nil, err
	}
	for {
		line, err := m.readLine()
		if err != nil {
			return nil, err
		}
		var r struct {
			Event  string          `json:"event"`
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("QMP %s: reply is not JSON: %w", req.Execute, err)
		}
		switch {
		case r.Event != "":
			continue
		case r.Error != nil:
			return nil, &QMPError{Command: req.Execute, Class: r.Error.Class, Desc: r.Error.Desc}
		case r.Return == nil:
			return nil, fmt.Errorf("QMP %s: reply has neither return nor error", req.Execute)
		}
		return line, nil
	}
}

// readLine reads one line, without its newline, of at most maxQMPLine
// bytes.
func (m *monitor) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := m.r.ReadSlice('\n')
		if len(line)+len(chunk) > maxQMPLine {
			return nil, fmt.Errorf("QMP line longer than %d bytes", maxQMPLine)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			if line = bytes.TrimSpace(line); len(line) == 0 {
				continue
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("QMP socket %s closed by QEMU: %w", m.path, io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
}

// fail closes the connection after a failed handshake step.
func (m *monitor) fail(step string, err error) error {
	err = m.timeout(err)
	m.stop()
	_ = m.conn.Close()
	m.conn = nil
	m.cancel()
	return fmt.Errorf("QMP socket %s: %s: %w", m.path, step, err)
}

// timeout adds the context's error to an I/O error it caused.
func (m *monitor) timeout(err error) error {
	if cerr := m.ctx.Err(); cerr != nil {
		return fmt.Errorf("no answer in time (QEMU busy or hung, or another client holds the socket): %w", errors.Join(cerr, err))
	}
	return err
}

// driver is the hypervisor.Driver of one listing: it knows the VMs found
// and opens, for each, a monitor bound to the listing's context, with a
// deadline of its own so that one VM cannot use up the listing's time.
type driver struct {
	ctx     context.Context
	timeout time.Duration
	vms     map[string]VM
	ids     []string
}

var _ hypervisor.Driver = (*driver)(nil)

func newDriver(ctx context.Context, timeout time.Duration, vms []VM) *driver {
	d := &driver{ctx: ctx, timeout: timeout, vms: make(map[string]VM, len(vms))}
	for _, vm := range vms {
		d.vms[vm.ID] = vm
		d.ids = append(d.ids, vm.ID)
	}
	return d
}

// NewMonitor returns an unconnected monitor for the VM's QMP socket.
func (d *driver) NewMonitor(id string) (qmp.Monitor, error) {
	vm, ok := d.vms[id]
	if !ok {
		return nil, fmt.Errorf("unknown VM %q", id)
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	return &monitor{ctx: ctx, path: vm.QMP, cancel: cancel}, nil
}

// DomainNames returns the VM ids.
func (d *driver) DomainNames() ([]string, error) { return d.ids, nil }
