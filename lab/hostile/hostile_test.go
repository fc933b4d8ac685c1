package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

const testMAC = "52:54:00:0c:00:24"

// answer runs one request through a fresh bombs agent (or a, if given)
// and returns what it wrote.
func answer(t *testing.T, a *agent, cmd string) []byte {
	t.Helper()
	var buf bytes.Buffer
	a.w = &buf
	a.handle(request{Execute: cmd})
	return buf.Bytes()
}

// roundCommands are the data commands of one check, in vmcheck's order.
var roundCommands = []string{"guest-info", "guest-get-osinfo", "guest-network-get-interfaces", "guest-network-get-route",
	"guest-file-open", "guest-file-read", "guest-file-close", "guest-exec", "guest-exec-status", "guest-nonsense"}

// bigIn is the stage whose round makes each command's reply big.
var bigIn = map[string][]int{
	"guest-info":                   {bigInfoEmpty, bigInfoString},
	"guest-get-osinfo":             {bigOSInfo},
	"guest-network-get-interfaces": {bigNetwork},
	"guest-network-get-route":      {bigNetwork},
	"guest-file-read":              {bigFile},
	"guest-exec-status":            {bigExec},
}

func TestBombsAreOneValidLineUnderBudget(t *testing.T) {
	a := newAgent(modeBombs, testMAC, time.Second)
	for stage := range bigStages {
		for _, cmd := range roundCommands {
			line := answer(t, a, cmd)
			want := smallBudget
			if stage == bigFile && (cmd == "guest-network-get-route" || cmd == "guest-file-close" || cmd == "guest-nonsense") {
				want = budget // an error with a ~1 MiB text
			}
			if slices.Contains(bigIn[cmd], stage) {
				want = budget
				if len(line) < budget*9/10 {
					t.Errorf("stage %d, %s: %d bytes, want a bomb near %d", stage, cmd, len(line), budget)
				}
			}
			if len(line) > want {
				t.Errorf("stage %d, %s: %d bytes, over its %d", stage, cmd, len(line), want)
			}
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Errorf("stage %d, %s: the reply is not exactly one line", stage, cmd)
			}
			var r struct {
				Return json.RawMessage `json:"return"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(line, &r); err != nil || (r.Return == nil) == (r.Error == nil) {
				t.Errorf("stage %d, %s: not a valid agent reply: %v", stage, cmd, err)
			}
		}
	}
}

func TestInfoBombListsTheRealCommandsFirst(t *testing.T) {
	for stage := range bigStages {
		var r struct {
			Return struct {
				Commands []struct {
					Name    string `json:"name"`
					Enabled bool   `json:"enabled"`
				} `json:"supported_commands"`
			} `json:"return"`
		}
		if err := json.Unmarshal(infoBomb(stage), &r); err != nil {
			t.Fatal(err)
		}
		for i, c := range commands {
			if got := r.Return.Commands[i]; got.Name != c || !got.Enabled {
				t.Errorf("infoBomb(%d) command %d = %+v, want %s enabled", stage, i, got, c)
			}
		}
	}
}

func TestNastyStringsDecodeToControls(t *testing.T) {
	var r struct {
		Return map[string]string `json:"return"`
	}
	if err := json.Unmarshal(osinfoBomb(budget), &r); err != nil {
		t.Fatal(err)
	}
	id := r.Return["id"]
	if !strings.HasPrefix(id, "debian") {
		t.Errorf("id = %.20q..., want it to start with debian", id)
	}
	for _, want := range []string{"\x1b[31m", "\u009b", "\u202e", "\u2066", "\u200b", "\u2028", "\n", "\x7f"} {
		if !strings.Contains(id, want) {
			t.Errorf("id does not contain %q", want)
		}
	}
	out, err := base64.StdEncoding.DecodeString(b64Blob(4096))
	if err != nil || !bytes.Contains(out, []byte("\x1b[2J")) || !bytes.Contains(out, []byte{0xff}) {
		t.Errorf("blob = %q, %v; want escapes and invalid UTF-8", out[:64], err)
	}
}

// client is the test's end of a stream served by an agent.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func serveTest(t *testing.T, mode string) (*agent, *client) {
	t.Helper()
	c, s := net.Pipe()
	a := newAgent(mode, testMAC, 2*time.Second)
	go func() { _ = a.serve(s, s) }()
	t.Cleanup(func() { c.Close() })
	return a, &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(line string) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

// line reads one line, skipping blank ones.
func (c *client) line() string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply: %v", err)
		}
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
}

// resync sends guest-sync-delimited with id and returns the 0xFF-delimited
// reply, skipping what comes before it.
func (c *client) resync(id int) string {
	c.t.Helper()
	c.send(fmt.Sprintf("\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%d}}", id))
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			c.t.Fatalf("waiting for the delimiter: %v", err)
		}
		if next, _ := c.r.Peek(1); b == 0xFF && len(next) == 1 && next[0] == '{' {
			return c.line()
		}
	}
}

func TestSyncPingAndInvalid(t *testing.T) {
	for _, mode := range []string{modeBombs, modeSlow} {
		t.Run(mode, func(t *testing.T) {
			_, c := serveTest(t, mode)
			if got := c.resync(4242); got != `{"return": 4242}` {
				t.Errorf("guest-sync-delimited = %q", got)
			}
			c.send(`{"execute":"guest-ping"}`)
			if got := c.line(); got != `{"return": {}}` {
				t.Errorf("guest-ping = %q", got)
			}
			c.send(`{"execute":"guest-sync","arguments":{"id":18446744073709551615}}`)
			if got := c.line(); got != `{"return": 18446744073709551615}` {
				t.Errorf("guest-sync = %q", got)
			}
			c.send(`not json`)
			if got := c.line(); !strings.Contains(got, "GenericError") {
				t.Errorf("invalid request = %q, want a GenericError", got)
			}
		})
	}
}

func TestSlowDripStopsAtTheNextRequest(t *testing.T) {
	_, c := serveTest(t, modeSlow)
	c.resync(1)
	c.send(`{"execute":"guest-info"}`) // first call: dripped
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := c.r.ReadByte(); err != nil || b != '{' {
		t.Fatalf("first dripped byte = %q, %v", b, err)
	}
	start := time.Now()
	c.send(`{"execute":"guest-ping"}`)
	if got := c.line(); got != `{"return": {}}` {
		t.Errorf("after the drip, guest-ping = %q, want the ping reply right after the dripped byte", got)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("guest-ping answered after %v: the drip did not stop", d)
	}
}

func TestSlowStaleAnswers(t *testing.T) {
	a, c := serveTest(t, modeSlow)
	c.resync(4242)
	a.calls["guest-info"] = slowStale // (safe: serve waits for the next request)
	c.send(`{"execute":"guest-info"}`)
	if got := c.line(); got != `{"return": 4242}` {
		t.Errorf("guest-info = %q, want the answer to the earlier guest-sync", got)
	}
	c.send(`{"execute":"guest-sync","arguments":{"id":7}}`)
	if got := c.line(); got != `{"return": 4242}` {
		t.Errorf("guest-sync after a stale answer = %q, want a stale id", got)
	}
	c.send(`{"execute":"guest-sync","arguments":{"id":8}}`)
	if got := c.line(); got != `{"return": 8}` {
		t.Errorf("the next guest-sync = %q, want the right id", got)
	}
}

func TestSlowBlankStreamThenRestart(t *testing.T) {
	defer func(d time.Duration) { blankEvery = d }(blankEvery)
	blankEvery = time.Millisecond
	c, s := net.Pipe()
	defer c.Close()
	a := newAgent(modeSlow, testMAC, 100*time.Millisecond)
	a.calls["guest-info"] = slowBlank
	done := make(chan error, 1)
	go func() { done <- a.serve(s, s) }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, `{"execute":"guest-info"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, blankLines)
	if _, err := io.ReadFull(c, got); err != nil || strings.Trim(string(got), "\n") != "" {
		t.Fatalf("read %q, %v; want %d newlines", got, err, blankLines)
	}
	select {
	case err := <-done:
		if err != errRestart {
			t.Errorf("serve = %v, want errRestart", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("no restart after the blank lines and the silence")
	}
}
