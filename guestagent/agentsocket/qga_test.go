package agentsocket_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agentsocket"
)

// The tests in this file run the real qemu-ga (Debian's qemu-guest-agent)
// on the host in unix-listen mode, inside a network namespace of its own
// holding only a loopback interface: no packet can leave it. Commands that
// could change the host (freeze, shutdown, suspend, file writes, users,
// time, CPUs, memory, ssh keys) are blocked. They are skipped when qemu-ga
// or unshare is missing or the test does not run as root, unless
// VMCHECK_REQUIRE_QGA is set (make test sets it): then that is a failure.

// qgaBlocked are the RPCs the host-side agent refuses.
const qgaBlocked = "guest-shutdown,guest-fsfreeze-freeze,guest-fsfreeze-freeze-list,guest-fsfreeze-thaw," +
	"guest-fstrim,guest-suspend-disk,guest-suspend-ram,guest-suspend-hybrid,guest-set-time," +
	"guest-set-user-password,guest-set-vcpus,guest-set-memory-blocks,guest-file-write,guest-file-open," +
	"guest-ssh-add-authorized-keys,guest-ssh-remove-authorized-keys"

// hostAgent is a qemu-ga process listening on a unix socket.
type hostAgent struct {
	path string
	dir  string
	cmd  *exec.Cmd
}

func startHostAgent(t *testing.T) *hostAgent {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv("VMCHECK_REQUIRE_QGA") != "" {
			t.Fatalf("%s (VMCHECK_REQUIRE_QGA is set)", why)
		}
		t.Skipf("%s; set VMCHECK_REQUIRE_QGA=1 to make this a failure", why)
	}
	if testing.Short() {
		skip("-short: not running qemu-ga")
	}
	if os.Geteuid() != 0 {
		skip("qemu-ga in a network namespace needs root")
	}
	for _, bin := range []string{"qemu-ga", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(bin + " not installed (Debian: qemu-guest-agent, util-linux, iproute2)")
		}
	}
	dir := t.TempDir()
	a := &hostAgent{path: filepath.Join(dir, "qga.sock"), dir: dir}
	a.start(t)
	return a
}

// start runs qemu-ga (again) and waits for its socket.
func (a *hostAgent) start(t *testing.T) {
	t.Helper()
	_ = os.Remove(a.path)
	// unshare execs the shell, which execs qemu-ga: one pid throughout.
	a.cmd = exec.Command("unshare", "--net", "--", "sh", "-c",
		`ip link set lo up && exec qemu-ga -m unix-listen -p "$1" -t "$2" -f "$2/qga.pid" -b "$3"`,
		"sh", a.path, a.dir, qgaBlocked)
	a.cmd.Stderr = &testLog{t: t}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start qemu-ga: %v", err)
	}
	cmd := a.cmd
	t.Cleanup(func() { stopProcess(cmd) })
	for range 100 {
		if c, err := net.Dial("unix", a.path); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("qemu-ga did not listen on %s", a.path)
}

// stop ends the agent started last.
func (a *hostAgent) stop() { stopProcess(a.cmd) }

func stopProcess(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// signal sends sig to the agent.
func (a *hostAgent) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("qemu-ga: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestQGAProtocol runs the whole typed protocol over a Socket against the
// real agent.
func TestQGAProtocol(t *testing.T) {
	a := startHostAgent(t)
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	c := guestagent.New(s)
	ctx := ctxFor(t, 20*time.Second)

	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Version == "" || !info.Enabled("guest-exec") || !info.Enabled("guest-exec-status") || info.Enabled("guest-fsfreeze-freeze") {
		t.Errorf("Info = version %q, guest-exec %v, fsfreeze %v; want a version, exec on, fsfreeze blocked",
			info.Version, info.Enabled("guest-exec"), info.Enabled("guest-fsfreeze-freeze"))
	}
	if _, err := c.OSInfo(ctx); err != nil {
		t.Errorf("OSInfo: %v", err)
	}
	ifs, err := c.NetworkInterfaces(ctx)
	if err != nil || len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Errorf("NetworkInterfaces = %+v, %v; want only lo (the agent's own namespace)", ifs, err)
	}
	st, err := c.Run(ctx, guestagent.Command{Path: "/bin/sh", Args: []string{"-c", "echo hello; echo oops >&2; exit 3"}, CaptureOutput: true}, 1<<10)
	if err != nil || st.ExitCode == nil || *st.ExitCode != 3 || string(st.Stdout) != "hello\n" || string(st.Stderr) != "oops\n" {
		t.Errorf("Run(sh) = %+v, %v; want exit 3, hello, oops", st, err)
	}
	if _, err := c.ExecStatus(ctx, 999999); err == nil {
		t.Error("ExecStatus(unknown pid) succeeded")
	}
	// The agent's own error replies come through as *Error.
	_, err = c.ReadFile(ctx, "/etc/hostname", 64)
	if !errors.Is(err, guestagent.ErrCommandDisabled) {
		t.Errorf("ReadFile with guest-file-open blocked: %v, want ErrCommandDisabled", err)
	}
}

// TestQGAPing runs the in-guest ping the checker runs, against the agent's
// namespace loopback.
func TestQGAPing(t *testing.T) {
	a := startHostAgent(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatal("no ping in PATH (Debian: iputils-ping)")
	}
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	c := guestagent.New(s)
	st, err := c.Run(ctxFor(t, 10*time.Second), guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", "1", "127.0.0.1"}, CaptureOutput: true}, 4<<10)
	if err != nil || st.ExitCode == nil || *st.ExitCode != 0 || !strings.Contains(string(st.Stdout), "1 received") {
		t.Errorf("ping 127.0.0.1 = %+v (%s), %v; want exit 0", st, st.Stdout, err)
	}
}

// TestQGAConcurrent: many goroutines on one Socket each get their own
// reply (guest-sync echoes the id it is given).
func TestQGAConcurrent(t *testing.T) {
	a := startHostAgent(t)
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	start := time.Now()
	const goroutines, each = 8, 25
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := 1000*g + i
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				got, err := s.Command(ctx, fmt.Appendf(nil, `{"execute":"guest-sync","arguments":{"id":%d}}`, id))
				cancel()
				if want := fmt.Sprintf(`{"return": %d}`, id); err != nil || string(got) != want {
					errs <- fmt.Errorf("guest-sync %d = %q, %v", id, got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d commands from %d goroutines in %v", goroutines*each, goroutines, time.Since(start))
}

// TestQGALateReply: the agent is stopped while a command waits; the
// command gives up at its deadline; once the agent runs again, the next
// command gets its own reply.
func TestQGALateReply(t *testing.T) {
	a := startHostAgent(t)
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	c := guestagent.New(s)
	if err := c.Ping(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	a.signal(t, syscall.SIGSTOP)
	start := time.Now()
	_, err := c.Info(ctxFor(t, 300*time.Millisecond))
	if !errors.Is(err, guestagent.ErrUnresponsive) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Info against a stopped agent: %v, want ErrUnresponsive and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Info returned after %v with a 300ms deadline", d)
	}
	a.signal(t, syscall.SIGCONT)
	got, err := s.Command(ctxFor(t, 5*time.Second), []byte(`{"execute":"guest-sync","arguments":{"id":7}}`))
	if err != nil || string(got) != `{"return": 7}` {
		t.Errorf("guest-sync after the late guest-info = %q, %v; want {\"return\": 7}", got, err)
	}
}

// TestQGASecondClient: the agent serves one client at a time. While
// another client holds the socket, a command waits only as long as its
// context allows; once the other client leaves, the next command works.
// A client that left half a request behind does not disturb us either.
func TestQGASecondClient(t *testing.T) {
	a := startHostAgent(t)
	other, err := net.Dial("unix", a.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write([]byte(`{"execute":"guest-ping"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := other.Read(buf); err != nil { // the agent has accepted it
		t.Fatal(err)
	}
	s := agentsocket.New(a.path, agentsocket.Options{})
	defer s.Close()
	start := time.Now()
	_, err = s.Command(ctxFor(t, 300*time.Millisecond), []byte(`{"execute":"guest-ping"}`))
	if !errors.Is(err, guestagent.ErrUnresponsive) {
		t.Errorf("Command while another client holds the agent: %v, want ErrUnresponsive", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Command returned after %v with a 300ms deadline", d)
	}
	// The other client leaves half a request behind.
	_, _ = other.Write([]byte(`{"execute":"guest-pi`))
	other.Close()
	got, err := s.Command(ctxFor(t, 5*time.Second), []byte(`{"execute":"guest-sync","arguments":{"id":8}}`))
	if err != nil || string(got) != `{"return": 8}` {
		t.Errorf("Command after the other client left = %q, %v; want {\"return\": 8}", got, err)
	}
}

// TestQGARestart: when the agent goes away the command fails, and once it
// is back the next command reconnects.
func TestQGARestart(t *testing.T) {
	a := startHostAgent(t)
	s := agentsocket.New(a.path, agentsocket.Options{Linger: time.Minute})
	defer s.Close()
	c := guestagent.New(s)
	if err := c.Ping(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	a.stop()
	if err := c.Ping(ctxFor(t, 2*time.Second)); !errors.Is(err, guestagent.ErrUnresponsive) && !errors.Is(err, guestagent.ErrNoChannel) {
		t.Errorf("Ping with the agent gone: %v, want ErrUnresponsive or ErrNoChannel", err)
	}
	a.start(t)
	if err := c.Ping(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Ping after the agent restarted: %v", err)
	}
}

// TestQGALinger measures what a new connection costs against the real
// agent: the resync round trip.
func TestQGALinger(t *testing.T) {
	a := startHostAgent(t)
	for _, linger := range []time.Duration{-1, time.Second} {
		s := agentsocket.New(a.path, agentsocket.Options{Linger: linger})
		c := guestagent.New(s)
		const n = 50
		start := time.Now()
		for range n {
			if err := c.Ping(ctxFor(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("linger %v: %v per guest-ping", linger, time.Since(start)/n)
		s.Close()
	}
}
