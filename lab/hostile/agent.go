package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// The modes.
const (
	modeBombs = "bombs"
	modeSlow  = "slow"
)

// maxRequest bounds a request line; longer lines are answered as invalid.
const maxRequest = 64 << 10

// errRestart is what serve returns when a behaviour restarts the agent.
var errRestart = errors.New("agent restart")

// intID matches the id of a guest-sync: an integer, echoed as written.
var intID = regexp.MustCompile(`^-?[0-9]{1,20}$`)

// request is one command read from the client.
type request struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments"`
	// invalid is set when the line is not a JSON object naming a command.
	invalid bool
}

// arg returns the raw JSON of argument name, or "" when there is none.
func (r request) arg(name string) string {
	var args map[string]json.RawMessage
	if json.Unmarshal(r.Arguments, &args) != nil {
		return ""
	}
	return string(args[name])
}

// agent is the hostile agent's state. Its counters outlive connections and
// restarts, so that successive rounds of a client meet successive
// behaviours. Only the goroutine running serve touches it.
type agent struct {
	mode    string
	mac     string        // hardware address the interface bomb claims
	silence time.Duration // slow: how long a blank-line stream lasts unasked

	calls    map[string]int // data commands answered so far, by name
	syncs    int            // guest-syncs answered so far
	lastSync string         // id of the last guest-sync answered
	raw      bool           // the last resync was guest-sync-delimited: a raw-stream client
	lies     int            // slow: guest-syncs still to answer with a stale id
	rounds   int            // bombs: guest-info calls so far (each starts a round)
	pid      int            // last pid handed out by guest-exec

	// The current stream, set by serve.
	w    io.Writer
	reqs chan request  // requests read and not yet answered
	wake chan struct{} // a request has arrived since the last look
	done chan struct{} // the reader has stopped
}

// newAgent returns an agent in mode that claims mac for its NIC.
func newAgent(mode, mac string, silence time.Duration) *agent {
	return &agent{mode: mode, mac: mac, silence: silence, calls: map[string]int{}}
}

// serve answers the requests read from r on w until reading fails (that
// error is returned) or a behaviour restarts the agent (errRestart).
func (a *agent) serve(r io.Reader, w io.Writer) error {
	a.w, a.reqs = w, make(chan request, 64)
	a.wake, a.done = make(chan struct{}, 1), make(chan struct{})
	var readErr error
	go func(reqs chan request, wake, done chan struct{}) {
		defer close(done)
		readErr = readRequests(r, reqs, wake)
	}(a.reqs, a.wake, a.done)
	for {
		select {
		case req := <-a.reqs:
			select {
			case <-a.wake:
			default:
			}
			if a.handle(req) {
				return errRestart
			}
		case <-a.done:
			return readErr
		}
	}
}

// readRequests splits r into lines, drops 0xFF bytes (a client's resync
// marker) and blank lines, and queues one request per other line. The
// queue does not block: a client that floods it loses requests. Every
// queued request also sets wake. It returns r's error.
func readRequests(r io.Reader, reqs chan<- request, wake chan<- struct{}) error {
	br := bufio.NewReader(r)
	var line []byte
	long := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch {
		case b == 0xFF:
		case b != '\n' && len(line) < maxRequest:
			line = append(line, b)
		case b != '\n':
			long = true
		case long || len(bytes.TrimSpace(line)) > 0:
			req := request{invalid: long}
			if !long && (json.Unmarshal(line, &req) != nil || req.Execute == "") {
				req.invalid = true
			}
			select {
			case reqs <- req:
			default:
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			line, long = line[:0], false
		}
	}
}

// handle answers one request and reports whether the agent must restart.
func (a *agent) handle(req request) bool {
	switch {
	case req.invalid:
		a.send(errorReply("GenericError", "JSON parse error"))
		return false
	case req.Execute == "guest-sync" || req.Execute == "guest-sync-delimited":
		a.sync(req)
		return false
	case req.Execute == "guest-ping":
		a.send([]byte(`{"return": {}}` + "\n"))
		return false
	}
	n := a.calls[req.Execute]
	a.calls[req.Execute] = n + 1
	if a.mode == modeSlow {
		return a.slow(req, n)
	}
	a.bomb(req, n)
	return false
}

// sync answers guest-sync and guest-sync-delimited with the caller's id
// (0xFF first for the delimited one), unless a slow behaviour armed a lie.
// In bombs mode every fourth answer is preceded by a flood: newlines and
// 0xFF bytes for a raw-stream client, which must discard everything before
// the delimiter; one line of 0xFF bytes for libvirt, which takes garbage
// in answer to its first guest-sync for a reason to sync again.
func (a *agent) sync(req request) {
	id := req.arg("id")
	if !intID.MatchString(id) {
		a.send(errorReply("GenericError", "Invalid parameter 'id'"))
		return
	}
	delimited := req.Execute == "guest-sync-delimited"
	a.raw = delimited
	a.syncs++
	answer := id
	if a.lies > 0 {
		a.lies--
		answer = a.lastSync
		if answer == "" || answer == id {
			answer = "1"
		}
	}
	if a.mode == modeBombs && a.syncs%4 == 1 {
		a.send(flood(delimited))
	}
	var b []byte
	if delimited {
		b = append(b, 0xFF)
	}
	a.send(fmt.Appendf(b, `{"return": %s}`+"\n", answer))
	a.lastSync = id
}

// send writes b to the client and reports whether that worked. (On the
// virtio-serial port a write blocks while the host side is closed, and
// resumes for the next client.)
func (a *agent) send(b []byte) bool {
	_, err := a.w.Write(b)
	return err == nil
}

// wait pauses for d and reports true, or false as soon as a new request
// arrives or the stream ends.
func (a *agent) wait(d time.Duration) bool {
	if len(a.reqs) > 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.wake:
		return false
	case <-a.done:
		return false
	}
}

// errorReply is an agent error reply line; desc is JSON string content,
// already escaped.
func errorReply(class, desc string) []byte {
	return []byte(`{"error": {"class": "` + class + `", "desc": "` + desc + `"}}` + "\n")
}

// quote returns s as JSON string content (escaped, without the quotes).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
