package guestagent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

// capturedReply returns the raw reply of the first entry of a transcript in
// testdata/qga whose request executes command (and, if match is not empty,
// whose reply contains match).
func capturedReply(b *testing.B, file, command, match string) []byte {
	b.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "qga", file))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Request struct {
				Execute string `json:"execute"`
			} `json:"request"`
			Reply json.RawMessage `json:"reply"`
		}
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := json.Unmarshal(line, &e); err != nil {
			b.Fatalf("%s: %v", file, err)
		}
		if e.Request.Execute == command && e.Reply != nil && (match == "" || bytes.Contains(e.Reply, []byte(match))) {
			return e.Reply
		}
	}
	b.Fatalf("%s: no reply to %s containing %q", file, command, match)
	return nil
}

// canned answers every request with the same reply, at no cost, so that a
// benchmark measures the client: request encoding, reply decoding.
func canned(reply []byte) *guestagent.Client {
	return guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) {
		return reply, nil
	}))
}

// The decoders of the replies a check reads, on replies captured from
// qemu-ga 7.2.22 (testdata/qga).

func BenchmarkInfo(b *testing.B) {
	c := canned(capturedReply(b, "linux-basic.jsonl", "guest-info", ""))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Info(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOSInfo(b *testing.B) {
	c := canned(capturedReply(b, "linux-basic.jsonl", "guest-get-osinfo", ""))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.OSInfo(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNetworkInterfaces(b *testing.B) {
	c := canned(capturedReply(b, "linux-basic.jsonl", "guest-network-get-interfaces", ""))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.NetworkInterfaces(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNetworkRoutes(b *testing.B) {
	c := canned(capturedReply(b, "linux-network-get-route.jsonl", "guest-network-get-route", "return"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.NetworkRoutes(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecStatus(b *testing.B) {
	c := canned(capturedReply(b, "linux-ping-reply.jsonl", "guest-exec-status", "out-data"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ExecStatus(ctx, 7056); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExec(b *testing.B) {
	c := canned([]byte(`{"return": {"pid": 7056}}`))
	cmd := guestagent.Command{Path: "ping", Args: []string{"-c", "1", "-W", "2", "192.0.2.1"}, CaptureOutput: true}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Exec(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFile(b *testing.B) {
	open := []byte(`{"return": 1000}`)
	read := capturedReply(b, "linux-proc-route.jsonl", "guest-file-read", "SWZhY2")
	closed := []byte(`{"return": {}}`)
	c := guestagent.New(guestagent.TransportFunc(func(_ context.Context, req []byte) ([]byte, error) {
		switch {
		case bytes.Contains(req, []byte("guest-file-open")):
			return open, nil
		case bytes.Contains(req, []byte("guest-file-read")):
			return read, nil
		}
		return closed, nil
	}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReadFile(ctx, "/proc/net/route", 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSanitize(b *testing.B) {
	s := "Guest agent command failed, error was 'Failed to execute child process “cmd.exe” (No such file or directory)'"
	b.ReportAllocs()
	for b.Loop() {
		_ = guestagent.Sanitize(s, 300)
	}
}
