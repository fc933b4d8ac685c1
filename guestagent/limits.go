package guestagent

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Reply size limits, per command. A reply over its command's limit fails
// with ErrReplyTooLarge before anything decodes it, and the socket
// transport stops reading a reply line at the same limit, so what one
// hostile agent can make vmcheck hold is bounded by these figures, not by
// the transport's own limits (libvirt passes replies up to 4 MiB).
const (
	// smallReplyLimit covers every command whose reply is a handful of
	// scalars or a list of the agent's commands: guest-ping, guest-sync,
	// guest-info (qemu-ga 9.x: about 6 KiB), guest-get-osinfo,
	// guest-exec, guest-file-open and guest-file-close.
	smallReplyLimit = 64 << 10
	// listReplyLimit covers guest-network-get-interfaces (about 400 bytes
	// per interface with statistics) and guest-network-get-route (about
	// 250 bytes per route).
	listReplyLimit = 1 << 20
	// fileReadReplyLimit covers one guest-file-read of fileReadChunk
	// bytes, base64-encoded.
	fileReadReplyLimit = 128 << 10
	// execStatusReplyLimit covers guest-exec-status with MaxOutput bytes
	// on each of stdout and stderr, base64-encoded.
	execStatusReplyLimit = 3 << 20
)

// MaxOutput is the most Wait keeps of one stream of a guest command's
// output, whatever limit it is given: the largest output vmcheck reads is a
// route table.
const MaxOutput = 1 << 20

// ReplyLimit returns the largest reply accepted for command, in bytes.
func ReplyLimit(command string) int {
	switch command {
	case "guest-network-get-interfaces", "guest-network-get-route":
		return listReplyLimit
	case "guest-file-read":
		return fileReadReplyLimit
	case "guest-exec-status":
		return execStatusReplyLimit
	}
	return smallReplyLimit
}

// CheckReplySize fails with ErrReplyTooLarge when a reply of n bytes is
// over command's limit (ReplyLimit). Client checks every reply; a
// Transport may check earlier, before it copies the reply.
func CheckReplySize(command string, n int) error {
	if max := ReplyLimit(command); n > max {
		return WrapSentinel(ErrReplyTooLarge, nil, fmt.Sprintf("%d bytes, more than the %d accepted for %s", n, max, command))
	}
	return nil
}

// CommandName is the request's "execute" member, sanitised, or "agent
// command" when there is none. It reads only as far as that member, so a
// large request costs nothing here.
func CommandName(request []byte) string {
	dec := json.NewDecoder(bytes.NewReader(request))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "agent command"
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		if key != "execute" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				break
			}
			continue
		}
		var name string
		if dec.Decode(&name) != nil || name == "" {
			break
		}
		return Sanitize(name, 64)
	}
	return "agent command"
}
