package history

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Limits on what is kept of one check's agent exchange.
const (
	maxExchanges     = 64
	maxExchangeRunes = 2000
	maxExchangeLines = 40
	// maxRecordedReply is how much of a reply the recorder looks at: a
	// longer reply is shown as its head, never parsed or split whole.
	maxRecordedReply = 16 << 10
)

// Exchange is one request to a guest agent and its reply, as shown on the
// status page. Every field is sanitised: guest output cannot inject markup
// or control characters, and its size is capped.
type Exchange struct {
	// Offset is when the request was sent, from the start of the check.
	Offset time.Duration
	// Duration is how long the agent took to answer.
	Duration time.Duration
	// Command is the QGA command name (guest-ping, guest-exec, …).
	Command string
	// Request is the request JSON.
	Request string
	// Reply is the reply JSON, with base64 out-data, err-data and
	// buf-b64 (guest-file-read) decoded into Output. Of a reply over
	// 16 KiB only the head is shown, undecoded.
	Reply string
	// Output is the decoded stdout and stderr of a guest-exec-status reply,
	// or the data of a guest-file-read reply.
	Output string
	// Error is the transport or agent error, if any.
	Error string
}

// Recorder captures the agent exchange of one check. Wrap the domain's
// transport with it before the check, read Exchanges after.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ex    []Exchange
	extra int
}

// NewRecorder returns a recorder whose offsets count from now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Wrap returns a transport that forwards to t and records every call.
func (r *Recorder) Wrap(t guestagent.Transport) guestagent.Transport {
	if t == nil {
		return nil
	}
	return guestagent.TransportFunc(func(ctx context.Context, req []byte) ([]byte, error) {
		sent := time.Now()
		reply, err := t.Command(ctx, req)
		r.add(sent, req, reply, err)
		return reply, err
	})
}

func (r *Recorder) add(sent time.Time, req, reply []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ex) >= maxExchanges {
		r.extra++
		return
	}
	e := Exchange{
		Offset:   sent.Sub(r.start),
		Duration: time.Since(sent),
		Command:  guestagent.CommandName(req),
		Request:  displayText(string(req[:min(len(req), maxRecordedReply)])),
	}
	if len(reply) > maxRecordedReply {
		e.Reply = displayText(string(reply[:maxRecordedReply])) +
			fmt.Sprintf("\n… (%d bytes in all; the first %d shown)", len(reply), maxRecordedReply)
	} else if reply != nil {
		e.Reply, e.Output = splitOutput(reply)
	}
	if err != nil {
		e.Error = guestagent.Sanitize(err.Error(), 500)
	}
	r.ex = append(r.ex, e)
}

// Exchanges returns what was recorded, with a final note when calls were
// dropped for exceeding the cap.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Exchange(nil), r.ex...)
	if r.extra > 0 {
		out = append(out, Exchange{Command: "…", Error: "further calls not recorded"})
	}
	return out
}

// splitOutput renders a reply for display, decoding guest-exec-status
// output so a person can read what ping printed.
func splitOutput(reply []byte) (string, string) {
	var x struct {
		Return map[string]json.RawMessage `json:"return"`
	}
	if json.Unmarshal(reply, &x) != nil || x.Return == nil {
		return displayText(string(reply)), ""
	}
	var out []string
	for _, k := range []string{"out-data", "err-data", "buf-b64"} {
		raw, ok := x.Return[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			continue
		}
		x.Return[k] = json.RawMessage(`"…"`)
		out = append(out, string(b))
	}
	if out == nil {
		return displayText(string(reply)), ""
	}
	rendered, err := json.Marshal(map[string]any{"return": x.Return})
	if err != nil {
		return displayText(string(reply)), displayText(strings.Join(out, "\n"))
	}
	return displayText(string(rendered)), displayText(strings.Join(out, "\n"))
}

// displayText sanitises untrusted text for a <pre> block: each line goes
// through guestagent.Sanitize, line and total sizes are capped.
func displayText(s string) string {
	lines := strings.Split(s, "\n")
	var b strings.Builder
	n := 0
	for i, l := range lines {
		if i == maxExchangeLines {
			b.WriteString("…")
			break
		}
		l = guestagent.Sanitize(l, maxExchangeRunes-n)
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
		n += len([]rune(l)) + 1
		if n >= maxExchangeRunes {
			break
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
