package agenttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Transcript errors: the "error" member of a transcript entry names the
// transport failure to replay instead of a reply.
var transcriptErrors = map[string]error{
	"unresponsive":       guestagent.ErrUnresponsive,
	"no_channel":         guestagent.ErrNoChannel,
	"domain_not_running": guestagent.ErrDomainNotRunning,
	"reply_too_large":    guestagent.ErrReplyTooLarge,
}

// entry is one line of a transcript.
type entry struct {
	Request struct {
		Execute   string          `json:"execute"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"request"`
	Reply json.RawMessage `json:"reply"`
	Error string          `json:"error"`

	line int
	used bool
}

// Replay returns a Transport that answers from the transcript at path.
//
// A transcript has one JSON object per line:
//
//	{"request":{"execute":…,"arguments":…},"reply":{"return":…}}
//	{"request":{"execute":…},"error":"unresponsive"}
//
// Lines starting with "#" and blank lines are comments. A request matches
// an entry with the same "execute" and, when the entry records
// "arguments", equal arguments (compared as JSON values). Each entry
// answers once, in file order, so repeated requests (polling
// guest-exec-status) get the recorded replies one after another. An
// "error" entry makes Command fail with the matching sentinel:
// "unresponsive", "no_channel", "domain_not_running" or "reply_too_large".
//
// A request that matches no unused entry fails the test, naming the
// request, and Command returns an error.
func Replay(tb testing.TB, path string) guestagent.Transport {
	tb.Helper()
	entries := Load(tb, path).entries
	var mu sync.Mutex
	return guestagent.TransportFunc(func(ctx context.Context, request []byte) ([]byte, error) {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(request, &req); err != nil {
			tb.Errorf("agenttest: request %s is not a JSON object: %v", request, err)
			return nil, fmt.Errorf("agenttest: bad request: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range entries {
			e := &entries[i]
			if e.used || e.Request.Execute != req.Execute {
				continue
			}
			if e.Request.Arguments != nil && !sameJSON(e.Request.Arguments, req.Arguments) {
				continue
			}
			e.used = true
			if e.Error != "" {
				return nil, fmt.Errorf("agenttest: %s:%d: %w", path, e.line, transcriptErrors[e.Error])
			}
			return append([]byte(nil), e.Reply...), nil
		}
		tb.Errorf("agenttest: %s: unexpected request %s", path, request)
		return nil, fmt.Errorf("agenttest: unexpected request %s", request)
	})
}

// Transcript is a transcript of a real agent, loaded for answering
// commands the way that agent did (see Replay for the format).
type Transcript struct {
	tb      testing.TB
	path    string
	entries []entry
}

// Load reads the transcript at path. A transcript that cannot be read or
// is malformed fails the test.
func Load(tb testing.TB, path string) *Transcript {
	tb.Helper()
	entries, err := load(path)
	if err != nil {
		tb.Fatalf("agenttest: %v", err)
	}
	return &Transcript{tb: tb, path: path, entries: entries}
}

// Answer is a Func that answers as the recorded agent first answered each
// command, whatever the arguments, as often as it is asked: the recorded
// "return" member as it was captured, the recorded agent error as a
// *guestagent.Error, or the recorded transport failure. A command the
// transcript never recorded is unknown to the agent (NotFound).
func (t *Transcript) Answer(cmd string, _ json.RawMessage) (any, error) {
	for _, e := range t.entries {
		if e.Request.Execute != cmd {
			continue
		}
		if e.Error != "" {
			return nil, fmt.Errorf("agenttest: %s:%d: %w", t.path, e.line, transcriptErrors[e.Error])
		}
		var r struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(e.Reply, &r); err != nil || r.Return == nil && r.Error == nil {
			t.tb.Errorf("agenttest: %s:%d: reply is neither a return nor an error: %v", t.path, e.line, err)
			return nil, fmt.Errorf("agenttest: %s:%d: malformed reply", t.path, e.line)
		}
		if r.Error != nil {
			return nil, &guestagent.Error{Command: cmd, Class: r.Error.Class, Desc: r.Error.Desc}
		}
		return r.Return, nil
	}
	return nil, NotFound(cmd)
}

// ExecStatus returns the first recorded guest-exec-status reply that says
// the process exited, decoded by guestagent itself, for a Process that
// ends as the recorded one did (see Exited). A transcript without one
// fails the test.
func (t *Transcript) ExecStatus() guestagent.ExecStatus {
	t.tb.Helper()
	for _, e := range t.entries {
		if e.Request.Execute != "guest-exec-status" || e.Error != "" {
			continue
		}
		reply := e.Reply
		c := guestagent.New(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) { return reply, nil }))
		st, err := c.ExecStatus(context.Background(), 1)
		if err == nil && st.Exited {
			return st
		}
	}
	t.tb.Fatalf("agenttest: %s: no guest-exec-status reply of an exited process", t.path)
	return guestagent.ExecStatus{}
}

func load(path string) ([]entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var entries []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 32<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var e entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if e.Request.Execute == "" {
			return nil, fmt.Errorf("%s:%d: request has no execute", path, n)
		}
		switch {
		case e.Error != "" && e.Reply != nil:
			return nil, fmt.Errorf("%s:%d: both reply and error", path, n)
		case e.Error != "":
			if transcriptErrors[e.Error] == nil {
				return nil, fmt.Errorf("%s:%d: unknown error %q", path, n, e.Error)
			}
		case e.Reply == nil:
			return nil, fmt.Errorf("%s:%d: neither reply nor error", path, n)
		}
		e.line = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(entries) == 0 {
		return nil, errors.New(path + ": no entries")
	}
	return entries, nil
}

// sameJSON reports whether a and b hold equal JSON values. A missing value
// equals an empty object.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if err := unmarshalOrEmpty(a, &va); err != nil {
		return false
	}
	if err := unmarshalOrEmpty(b, &vb); err != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func unmarshalOrEmpty(raw json.RawMessage, v *any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		*v = map[string]any{}
		return nil
	}
	return json.Unmarshal(raw, v)
}
