package guestagent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
)

const qga = "../testdata/qga/"

// newClient returns a Client over a recorded transcript, polling fast.
func newClient(t *testing.T, transcript string) *guestagent.Client {
	t.Helper()
	c := guestagent.New(agenttest.Replay(t, qga+transcript))
	guestagent.SetPollIntervals(c, time.Millisecond, time.Millisecond)
	return c
}

func TestBasicCommands(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, "linux-basic.jsonl")

	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Version != "7.2.22" {
		t.Errorf("Info().Version = %q, want 7.2.22", info.Version)
	}
	for name, want := range map[string]bool{
		"guest-exec": true, "guest-exec-status": true, "guest-file-open": true,
		"guest-get-devices": false, "guest-network-get-route": false,
	} {
		if got := info.Enabled(name); got != want {
			t.Errorf("Info().Enabled(%q) = %v, want %v", name, got, want)
		}
	}
	if info.Commands["guest-shutdown"].SuccessResponse {
		t.Errorf("guest-shutdown: SuccessResponse = true, want false")
	}

	oi, err := c.OSInfo(ctx)
	if err != nil {
		t.Fatalf("OSInfo: %v", err)
	}
	want := guestagent.OSInfo{ID: "debian", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)",
		Version: "12 (bookworm)", VersionID: "12", KernelRelease: "6.18.44-fc-v595",
		KernelVersion: "#1 SMP PREEMPT_DYNAMIC @0", Machine: "x86_64"}
	if oi != want {
		t.Errorf("OSInfo() = %+v, want %+v", oi, want)
	}

	ifs, err := c.NetworkInterfaces(ctx)
	if err != nil {
		t.Fatalf("NetworkInterfaces: %v", err)
	}
	if len(ifs) != 2 || ifs[1].Name != "tap0" || ifs[1].MAC != "52:54:00:0c:00:13" || len(ifs[1].Addrs) != 2 ||
		ifs[1].Addrs[0] != netip.MustParsePrefix("192.0.2.13/24") || ifs[1].Addrs[1] != netip.MustParsePrefix("2001:db8::13/64") {
		t.Errorf("NetworkInterfaces() = %+v, want lo and tap0 52:54:00:0c:00:13 192.0.2.13/24 2001:db8::13/64", ifs)
	}

	// QEMU 7.2 has no guest-network-get-route.
	_, err = c.NetworkRoutes(ctx)
	if !errors.Is(err, guestagent.ErrCommandNotFound) || errors.Is(err, guestagent.ErrCommandDisabled) {
		t.Errorf("NetworkRoutes() error = %v, want ErrCommandNotFound", err)
	}
}

func TestNetworkRoutes(t *testing.T) {
	c := newClient(t, "linux-network-get-route.jsonl")
	routes, err := c.NetworkRoutes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []guestagent.Route{
		{Interface: "tap0", Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.1"), Metric: 100},
		{Interface: "tap0", Destination: netip.MustParsePrefix("192.0.2.0/24")},
		// the unreachable route 203.0.113.0/24 is left out
		{Interface: "tap0", Destination: netip.MustParsePrefix("2001:db8::/64"), Metric: 256},
		{Interface: "tap0", Destination: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("2001:db8::1"), Metric: 1024},
		{Interface: "lo", Destination: netip.MustParsePrefix("::1/128")},
		{Interface: "tap0", Destination: netip.MustParsePrefix("2001:db8::13/128")},
		// the lo reject routes are left out
	}
	if len(routes) != len(want) {
		t.Fatalf("NetworkRoutes() = %+v, want %+v", routes, want)
	}
	for i := range want {
		if routes[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, routes[i], want[i])
		}
	}
}

func TestExecStatusReadOnce(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, "linux-ping-reply.jsonl")
	cmd := guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", "1", "192.0.2.13"}, CaptureOutput: true}
	pid, err := c.Exec(ctx, cmd)
	if err != nil || pid != 7056 {
		t.Fatalf("Exec() = %d, %v; want 7056", pid, err)
	}
	st, err := c.Wait(ctx, pid, 1<<20)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.ExitCode == nil || *st.ExitCode != 0 || !bytes.Contains(st.Stdout, []byte("time=0.050 ms")) || st.StdoutTruncated {
		t.Errorf("Wait() = %+v (stdout %q), want exit 0 with a reply", st, st.Stdout)
	}
	// The agent forgets a finished process once reported.
	_, err = c.ExecStatus(ctx, pid)
	var ae *guestagent.Error
	if !errors.As(err, &ae) || ae.Class != "GenericError" || ae.Desc != "Invalid parameter 'pid'" || ae.Command != "guest-exec-status" {
		t.Errorf("second ExecStatus() error = %v, want GenericError Invalid parameter 'pid'", err)
	}
	if want := "guest-exec-status pid 7056: agent returned GenericError: Invalid parameter 'pid'"; err == nil || err.Error() != want {
		t.Errorf("error text = %q, want %q", err, want)
	}
}

func TestExecDisabled(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, "linux-exec-disabled.jsonl")
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Enabled("guest-exec") || !info.Enabled("guest-exec-status") {
		t.Errorf("Enabled(guest-exec), Enabled(guest-exec-status) = %v, %v; want false, true",
			info.Enabled("guest-exec"), info.Enabled("guest-exec-status"))
	}
	_, err = c.Exec(ctx, guestagent.Command{Path: "cmd.exe", Args: []string{"/c", "ver"}, CaptureOutput: true})
	if !errors.Is(err, guestagent.ErrCommandDisabled) || errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("Exec() error = %v, want ErrCommandDisabled only", err)
	}
	var ae *guestagent.Error
	if !errors.As(err, &ae) || ae.Class != "CommandNotFound" {
		t.Errorf("Exec() error = %#v, want *Error with class CommandNotFound", err)
	}
}

func TestExecSpawnFailure(t *testing.T) {
	c := newClient(t, "linux-spawn-failure.jsonl")
	_, err := c.Exec(context.Background(), guestagent.Command{Path: "cmd.exe", Args: []string{"/c", "ver"}, CaptureOutput: true})
	var ae *guestagent.Error
	if !errors.As(err, &ae) {
		t.Fatalf("Exec() error = %v, want *Error", err)
	}
	want := "Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"
	if ae.Class != "GenericError" || ae.Desc != want {
		t.Errorf("Exec() error = %+v, want GenericError %q", ae, want)
	}
	if errors.Is(err, guestagent.ErrCommandNotFound) || errors.Is(err, guestagent.ErrCommandDisabled) {
		t.Errorf("spawn failure %v matches a command sentinel", err)
	}
}

func TestExecMisc(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, "linux-exec-misc.jsonl")
	intp := func(v int) *int { return &v }
	tests := []struct {
		name       string
		cmd        guestagent.Command
		code, sig  *int
		out, errs  string
		noOutput   bool
		wantErrStr string
	}{
		{name: "signal", cmd: guestagent.Command{Path: "sh", Args: []string{"-c", "kill -TERM $$"}, CaptureOutput: true}, sig: intp(15)},
		{name: "no capture", cmd: guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", "1", "192.0.2.13"}}, code: intp(0), noOutput: true},
		{name: "input", cmd: guestagent.Command{Path: "/bin/true", Input: []byte("hello\n"), CaptureOutput: true}, code: intp(0)},
		{name: "exit 300", cmd: guestagent.Command{Path: "/bin/sh", Args: []string{"-c", "exit 300"}, CaptureOutput: true}, code: intp(44)},
		{name: "env", cmd: guestagent.Command{Path: "/bin/sh", Args: []string{"-c", "echo $FOO"}, Env: []string{"FOO=bar"}, CaptureOutput: true}, code: intp(0), out: "bar\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.Run(ctx, tt.cmd, 1<<20)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !eqPtr(st.ExitCode, tt.code) || !eqPtr(st.Signal, tt.sig) || string(st.Stdout) != tt.out || string(st.Stderr) != tt.errs {
				t.Errorf("Run() = %+v, want code %v signal %v stdout %q", st, deref(tt.code), deref(tt.sig), tt.out)
			}
		})
	}

	// The agent refuses the pid of a process it does not know.
	if _, err := c.ExecStatus(ctx, 999999); err == nil {
		t.Errorf("ExecStatus(999999): no error")
	}
}

func eqPtr(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestReadFile(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, "linux-proc-route.jsonl")
	for _, tt := range []struct{ path, golden string }{
		{"/proc/net/route", "../testdata/routes/linux-proc-net-route.txt"},
		{"/proc/net/ipv6_route", "../testdata/routes/linux-proc-net-ipv6_route.txt"},
	} {
		got, err := c.ReadFile(ctx, tt.path, 1<<20)
		if err != nil {
			t.Fatalf("ReadFile(%q): %v", tt.path, err)
		}
		want, err := os.ReadFile(tt.golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%q) = %q, want %q", tt.path, got, want)
		}
	}
	_, err := c.ReadFile(ctx, "/no/such/file", 1<<20)
	var ae *guestagent.Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Desc, "No such file or directory") {
		t.Errorf("ReadFile(missing) error = %v, want the agent's open error", err)
	}
}

// fakeFiles is an agent serving one file in chunks of chunk bytes.
type fakeFiles struct {
	data   []byte
	chunk  int
	off    int
	closed atomic.Int32
	// block makes guest-file-read wait for ctx to end.
	block bool
	// closeCtxErr records ctx.Err() as guest-file-close saw it.
	closeCtxErr error
}

func (f *fakeFiles) Command(ctx context.Context, req []byte) ([]byte, error) {
	var r struct {
		Execute   string
		Arguments struct{ Count int }
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, err
	}
	switch r.Execute {
	case "guest-file-open":
		return []byte(`{"return":7}`), nil
	case "guest-file-read":
		if f.block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		n := min(r.Arguments.Count, f.chunk, len(f.data)-f.off)
		buf := f.data[f.off : f.off+n]
		f.off += n
		return json.Marshal(map[string]any{"return": map[string]any{"count": n, "buf-b64": buf, "eof": f.off == len(f.data)}})
	case "guest-file-close":
		f.closed.Add(1)
		f.closeCtxErr = ctx.Err()
		return []byte(`{"return":{}}`), nil
	}
	return nil, errors.New("unexpected " + r.Execute)
}

func TestReadFileLimit(t *testing.T) {
	f := &fakeFiles{data: bytes.Repeat([]byte("0123456789"), 20000), chunk: 70000}
	c := guestagent.New(f)
	got, err := c.ReadFile(context.Background(), "/big", 100001)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100001 || !bytes.Equal(got, f.data[:100001]) {
		t.Errorf("ReadFile(limit 100001) returned %d bytes, want the first 100001", len(got))
	}
	if f.closed.Load() != 1 {
		t.Errorf("guest-file-close called %d times, want 1", f.closed.Load())
	}
	if _, err := c.ReadFile(context.Background(), "/big", 0); err == nil {
		t.Errorf("ReadFile(limit 0): no error")
	}
}

func TestReadFileClosesAfterCancel(t *testing.T) {
	f := &fakeFiles{block: true}
	c := guestagent.New(f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.ReadFile(ctx, "/proc/net/route", 1<<20)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadFile() error = %v, want DeadlineExceeded", err)
	}
	if f.closed.Load() != 1 || f.closeCtxErr != nil {
		t.Errorf("guest-file-close called %d times with ctx error %v, want once with a live context", f.closed.Load(), f.closeCtxErr)
	}
}

func TestReadFileNoProgress(t *testing.T) {
	calls := 0
	c := guestagent.New(guestagent.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		calls++
		switch {
		case bytes.Contains(req, []byte("guest-file-open")):
			return []byte(`{"return":1}`), nil
		case bytes.Contains(req, []byte("guest-file-read")):
			return []byte(`{"return":{"count":0,"buf-b64":"","eof":false}}`), nil
		}
		return []byte(`{"return":{}}`), nil
	}))
	if _, err := c.ReadFile(context.Background(), "/x", 100); err == nil || calls > 10 {
		t.Errorf("ReadFile() = %v after %d calls, want an error after a few", err, calls)
	}
}

// statusAgent answers guest-exec-status with "running" n times, then with
// final.
func statusAgent(n int, final string) guestagent.TransportFunc {
	var polls atomic.Int32
	return func(ctx context.Context, req []byte) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if int(polls.Add(1)) <= n {
			return []byte(`{"return":{"exited":false}}`), nil
		}
		return []byte(final), nil
	}
}

func TestWait(t *testing.T) {
	ctx := context.Background()
	c := guestagent.New(statusAgent(3, `{"return":{"exited":true,"exitcode":0,"out-data":"MDEyMzQ1Njc4OQ==","err-data":"YWI="}}`))
	guestagent.SetPollIntervals(c, time.Millisecond, 2*time.Millisecond)
	st, err := c.Wait(ctx, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Stdout) != "0123" || !st.StdoutTruncated || string(st.Stderr) != "ab" || st.StderrTruncated {
		t.Errorf("Wait(limit 4) = %+v, want stdout cut to 0123 and flagged, stderr ab", st)
	}
}

func TestWaitTimeout(t *testing.T) {
	c := guestagent.New(statusAgent(1<<30, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Wait(ctx, 42, 0)
	if !errors.Is(err, guestagent.ErrExecTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait() error = %v, want ErrExecTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Wait() took %v after the deadline", d)
	}
}

// A finished result can be read once: Wait keeps it even if ctx ends while
// it is being fetched.
func TestWaitKeepsFinishedResult(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) {
		cancel()
		return []byte(`{"return":{"exited":true,"exitcode":3}}`), nil
	}))
	st, err := c.Wait(ctx, 1, 0)
	if err != nil || st.ExitCode == nil || *st.ExitCode != 3 {
		t.Errorf("Wait() = %+v, %v; want exit code 3", st, err)
	}
}

func TestTransportErrorsPassThrough(t *testing.T) {
	for _, sentinel := range []error{guestagent.ErrUnresponsive, guestagent.ErrNoChannel, guestagent.ErrDomainNotRunning} {
		c := guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) {
			return nil, sentinel
		}))
		if err := c.Ping(context.Background()); !errors.Is(err, sentinel) || !strings.HasPrefix(err.Error(), "guest-ping: ") {
			t.Errorf("Ping() error = %v, want %v wrapped with the command name", err, sentinel)
		}
	}
}

func TestBadReplies(t *testing.T) {
	for _, reply := range []string{``, `[]`, `{}`, `{"return":`, `"x"`} {
		c := guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) {
			return []byte(reply), nil
		}))
		if err := c.Ping(context.Background()); err == nil {
			t.Errorf("Ping() with reply %q: no error", reply)
		}
	}
	big := append([]byte(`{"return":"`), bytes.Repeat([]byte("a"), 17<<20)...)
	c := guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) { return big, nil }))
	if err := c.Ping(context.Background()); !errors.Is(err, guestagent.ErrReplyTooLarge) {
		t.Errorf("Ping() with a 17 MiB reply: error = %v, want ErrReplyTooLarge", err)
	}
}

func TestErrorIs(t *testing.T) {
	tests := []struct {
		class, desc        string
		notFound, disabled bool
	}{
		{"CommandNotFound", "The command guest-network-get-route has not been found", true, false},
		{"CommandNotFound", "Command guest-exec has been disabled", false, true},
		{"CommandNotFound", "Command guest-exec has been disabled: the command is not allowed", false, true},
		{"CommandDisabled", "The command guest-fsfreeze-freeze has been disabled for this instance", false, true},
		// Through libvirt, which keeps only the description.
		{"", "The command guest-network-get-route has not been found", true, false},
		{"", "The command has been disabled for this instance", false, true},
		{"GenericError", "Invalid parameter 'pid'", false, false},
	}
	for _, tt := range tests {
		e := &guestagent.Error{Command: "x", Class: tt.class, Desc: tt.desc}
		if got := errors.Is(e, guestagent.ErrCommandNotFound); got != tt.notFound {
			t.Errorf("Is(%q %q, ErrCommandNotFound) = %v, want %v", tt.class, tt.desc, got, tt.notFound)
		}
		if got := errors.Is(e, guestagent.ErrCommandDisabled); got != tt.disabled {
			t.Errorf("Is(%q %q, ErrCommandDisabled) = %v, want %v", tt.class, tt.desc, got, tt.disabled)
		}
	}
}
