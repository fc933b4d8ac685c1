package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// The behaviours of the slow mode, in the order each command meets them.
const (
	slowDrip    = iota // the reply, one byte a second
	slowEndless        // a line that never ends: endlessSize bytes, then a stall
	slowStale          // an answer for an earlier guest-sync; the next one gets a stale id
	slowBlank          // blankLines blank lines, one every blankEvery
	slowPlain          // a small plain reply
	slowKinds
)

// blankLines is the length of a blank-line stream. It stays short: a
// client that stops reading (libvirt, once a blank line made it give up on
// the agent) leaves every write in the virtio queue and QEMU's socket
// buffer, and after a few hundred of them the next write blocks for good.
const blankLines = 50

// blankEvery is the pace of a blank-line stream (a variable for tests).
var blankEvery = 100 * time.Millisecond

// endlessSize is how much of the never-ending line is sent before the
// stall: well under libvirt's 10 MiB limit for an agent reply, so that
// libvirt waits instead of dropping the agent.
const endlessSize = 1 << 20

// slow answers a data command with behaviour n mod slowKinds; n counts
// earlier calls of the same command. Any behaviour stops as soon as the
// next request arrives. It reports whether the agent must restart: when no
// request came for a.silence after a blank-line stream (libvirt gives up
// on an agent that sent it a blank line, until the guest reopens its port).
func (a *agent) slow(req request, n int) bool {
	reply := a.plain(req)
	switch n % slowKinds {
	case slowDrip:
		for i := range reply {
			if !a.send(reply[i:i+1]) || !a.wait(time.Second) {
				return false
			}
		}
	case slowEndless:
		a.send([]byte(`{"return": {"version": "`))
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		for sent := 0; sent < endlessSize; sent += len(chunk) {
			if !a.send(chunk) || !a.wait(100*time.Millisecond) {
				return false
			}
		}
		a.wait(a.silence)
	case slowStale:
		a.lies = 1
		last := a.lastSync
		if last == "" {
			last = "1"
		}
		a.send(fmt.Appendf(nil, `{"return": %s}`+"\n", last))
	case slowBlank:
		for range blankLines {
			if !a.send([]byte("\n")) || !a.wait(blankEvery) {
				return false
			}
		}
		return a.wait(a.silence)
	default:
		a.send(reply)
	}
	return false
}

// plain returns the small reply an ordinary qemu-ga 7.2 could give, except
// that guest-exec cannot spawn anything, so that no probe of this guest
// passes or fails: its verdict is unknown.
func (a *agent) plain(req request) []byte {
	var v string
	switch req.Execute {
	case "guest-info":
		var cs []string
		for _, c := range commands {
			cs = append(cs, fmt.Sprintf(`{"enabled": true, "name": %q, "success-response": true}`, c))
		}
		v = `{"version": "7.2.0", "supported_commands": [` + strings.Join(cs, ", ") + `]}`
	case "guest-get-osinfo":
		v = `{"id": "debian", "name": "Debian GNU/Linux", "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version": "12 (bookworm)", "version-id": "12", "kernel-release": "6.1.0-hostile", "kernel-version": "#1 SMP", "machine": "x86_64"}`
	case "guest-network-get-interfaces":
		v = fmt.Sprintf(`[{"name": "eth0", "hardware-address": %q, "ip-addresses": []}]`, a.mac)
	case "guest-network-get-route":
		v = `[{"iface": "eth0", "destination": "0.0.0.0", "gateway": "192.0.2.1", "mask": "0.0.0.0", "metric": 0, "flags": 3, "version": 4}]`
	case "guest-exec":
		return execFailed(req, "")
	case "guest-exec-status":
		v = `{"exited": true, "exitcode": 2, "err-data": "` + base64.StdEncoding.EncodeToString([]byte("ping: sendmsg: Operation not permitted\n")) + `"}`
	case "guest-file-open":
		v = `1000`
	case "guest-file-read":
		v = `{"count": 0, "buf-b64": "", "eof": true}`
	case "guest-file-close":
		v = `{}`
	default:
		return errorReply("CommandNotFound", "The command "+quote(req.Execute)+" has not been found")
	}
	return []byte(`{"return": ` + v + "}\n")
}
