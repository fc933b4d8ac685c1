package agenttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func writeTranscript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.jsonl")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplay(t *testing.T) {
	p := writeTranscript(t, `# header
{"request":{"execute":"guest-ping"},"reply":{"return":{}}}
{"request":{"execute":"guest-exec-status","arguments":{"pid":7}},"reply":{"return":{"exited":false}}}
{"request":{"execute":"guest-exec-status","arguments":{"pid":7}},"reply":{"return":{"exited":true,"exitcode":0}}}
{"request":{"execute":"guest-info"},"error":"unresponsive"}
`)
	rec := &recorder{TB: t}
	c := guestagent.New(Replay(rec, p))
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if st, err := c.ExecStatus(ctx, 7); err != nil || st.Exited {
		t.Errorf("first ExecStatus = %+v, %v; want running", st, err)
	}
	if st, err := c.ExecStatus(ctx, 7); err != nil || !st.Exited {
		t.Errorf("second ExecStatus = %+v, %v; want exited", st, err)
	}
	if _, err := c.Info(ctx); !errors.Is(err, guestagent.ErrUnresponsive) {
		t.Errorf("Info() error = %v, want ErrUnresponsive", err)
	}
	if len(rec.errs) != 0 {
		t.Errorf("unexpected test errors: %v", rec.errs)
	}

	// Unrecorded arguments, and a recorded request used up.
	if _, err := c.ExecStatus(ctx, 8); err == nil {
		t.Errorf("ExecStatus(8): no error")
	}
	if err := c.Ping(ctx); err == nil {
		t.Errorf("second Ping: no error")
	}
	if len(rec.errs) != 2 || !strings.Contains(rec.errs[0], `"pid":8`) || !strings.Contains(rec.errs[1], "guest-ping") {
		t.Errorf("test errors = %q, want two naming the unexpected requests", rec.errs)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, text := range []string{
		"",
		"# only a comment\n",
		`{"request":{"execute":"guest-ping"}}` + "\n",
		`{"request":{"execute":"guest-ping"},"error":"nonsense"}` + "\n",
		`{"request":{},"reply":{"return":{}}}` + "\n",
		`{"request":{"execute":"guest-ping"},"reply":{"return":{}},"extra":1}` + "\n",
		"not json\n",
	} {
		if _, err := load(writeTranscript(t, text)); err == nil {
			t.Errorf("load(%q): no error", text)
		}
	}
}

// Every transcript in testdata/qga loads.
func TestTranscriptsLoad(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/qga/*.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, p := range paths {
		if _, err := load(p); err != nil {
			t.Errorf("load(%s): %v", p, err)
		}
	}
}

// A loaded transcript answers every command as the agent first did.
func TestTranscriptAnswer(t *testing.T) {
	basic := Load(t, "../../testdata/qga/linux-basic.jsonl")
	c := guestagent.New(New(basic.Answer))
	ctx := context.Background()
	for range 2 {
		oi, err := c.OSInfo(ctx)
		if err != nil || oi.ID != "debian" {
			t.Errorf("OSInfo() = %+v, %v; want debian", oi, err)
		}
	}
	if _, err := c.NetworkRoutes(ctx); !errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("NetworkRoutes() error = %v, want the recorded CommandNotFound", err)
	}
	if _, err := c.ExecStatus(ctx, 1); !errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("ExecStatus() error = %v, want CommandNotFound for an unrecorded command", err)
	}
	p := writeTranscript(t, `{"request":{"execute":"guest-info"},"error":"unresponsive"}`+"\n")
	if _, err := guestagent.New(New(Load(t, p).Answer)).Info(ctx); !errors.Is(err, guestagent.ErrUnresponsive) {
		t.Errorf("Info() error = %v, want the recorded ErrUnresponsive", err)
	}
}

func TestTranscriptExecStatus(t *testing.T) {
	st := Load(t, "../../testdata/qga/windows-route-print.jsonl").ExecStatus()
	if !st.Exited || st.ExitCode == nil || *st.ExitCode != 0 || !strings.Contains(string(st.Stdout), "IPv4 Route Table") {
		t.Errorf("ExecStatus() = exited %v code %v, %d bytes of output; want route print's", st.Exited, st.ExitCode, len(st.Stdout))
	}
}
