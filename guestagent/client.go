package guestagent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// fileReadChunk is the count Client asks guest-file-read for at a time.
const fileReadChunk = 64 << 10

// closeTimeout bounds guest-file-close when the caller's context is
// already done.
const closeTimeout = 2 * time.Second

// Client issues typed guest agent commands over a Transport. It holds no
// per-call state: one Client may be used by several goroutines at once, as
// far as its Transport allows.
type Client struct {
	t Transport

	// Wait's polling interval: it starts at pollMin and doubles up to
	// pollMax. Tests shorten them.
	pollMin, pollMax time.Duration
}

// New returns a Client that sends its commands over t.
func New(t Transport) *Client {
	return &Client{t: t, pollMin: 10 * time.Millisecond, pollMax: 250 * time.Millisecond}
}

// request is the QGA request envelope.
type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

// reply is the QGA reply envelope.
type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

// call sends command with args and returns the raw "return" value. Errors
// are not wrapped with the command name; the exported methods do that.
func (c *Client) call(ctx context.Context, command string, args any) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not sent: %w", err)
	}
	req, err := json.Marshal(request{Execute: command, Arguments: args})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	raw, err := c.t.Command(ctx, req)
	if err != nil {
		return nil, err
	}
	return decodeReply(command, raw)
}

// decodeReply unpacks a reply envelope: the "return" value, or *Error.
func decodeReply(command string, raw []byte) (json.RawMessage, error) {
	if err := CheckReplySize(command, len(raw)); err != nil {
		return nil, err
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("reply is not a JSON object: %w", err)
	}
	if r.Error != nil {
		return nil, newError(command, r.Error.Class, r.Error.Desc)
	}
	if r.Return == nil {
		return nil, errors.New("reply has neither return nor error")
	}
	return r.Return, nil
}

// Ping checks that the agent answers (guest-ping).
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.call(ctx, "guest-ping", nil); err != nil {
		return fmt.Errorf("guest-ping: %w", err)
	}
	return nil
}

// CommandInfo describes one command the agent supports.
type CommandInfo struct {
	Enabled         bool // false when the agent's configuration blocks it
	SuccessResponse bool // false for commands that answer nothing on success
}

// Info is what guest-info reports about the agent.
type Info struct {
	Version  string                 // agent version, e.g. "7.2.22"; sanitised
	Commands map[string]CommandInfo // supported commands by name
}

// Enabled reports whether the agent supports the command and allows it.
func (i Info) Enabled(name string) bool {
	return i.Commands[name].Enabled
}

// Info asks the agent for its version and supported commands (guest-info).
// When the agent lists more commands than are kept, Info returns the first
// ones with an error wrapping ErrTruncated.
func (c *Client) Info(ctx context.Context) (Info, error) {
	raw, err := c.call(ctx, "guest-info", nil)
	if err != nil {
		return Info{}, fmt.Errorf("guest-info: %w", err)
	}
	info, err := decodeInfo(raw)
	if err != nil {
		return info, fmt.Errorf("guest-info: %w", err)
	}
	return info, nil
}

// OSInfo describes the guest operating system (guest-get-osinfo). On
// Windows ID is "mswindows". Every field is optional and sanitised.
type OSInfo struct {
	ID            string
	Name          string
	PrettyName    string
	Version       string
	VersionID     string
	KernelRelease string
	KernelVersion string
	Machine       string
	Variant       string
	VariantID     string
}

// OSInfo asks the agent about the guest operating system (guest-get-osinfo,
// QEMU ≥ 2.10).
func (c *Client) OSInfo(ctx context.Context) (OSInfo, error) {
	raw, err := c.call(ctx, "guest-get-osinfo", nil)
	if err != nil {
		return OSInfo{}, fmt.Errorf("guest-get-osinfo: %w", err)
	}
	oi, err := decodeOSInfo(raw)
	if err != nil {
		return OSInfo{}, fmt.Errorf("guest-get-osinfo: %w", err)
	}
	return oi, nil
}

// Interface is one guest network interface.
type Interface struct {
	Name  string         // guest's name for it, sanitised ("eth0", "Ethernet 2")
	MAC   MAC            // "" if absent or invalid
	Addrs []netip.Prefix // addresses with their prefix length, zone removed
}

// NetworkInterfaces lists the guest's network interfaces
// (guest-network-get-interfaces). Addresses that do not parse are left out.
// At most 256 interfaces and 64 addresses per interface are kept; past
// that it returns what it kept with an error wrapping ErrTruncated.
func (c *Client) NetworkInterfaces(ctx context.Context) ([]Interface, error) {
	raw, err := c.call(ctx, "guest-network-get-interfaces", nil)
	if err != nil {
		return nil, fmt.Errorf("guest-network-get-interfaces: %w", err)
	}
	ifs, err := decodeInterfaces(raw)
	if err != nil {
		return ifs, fmt.Errorf("guest-network-get-interfaces: %w", err)
	}
	return ifs, nil
}

// Route is one entry of the guest's routing table.
type Route struct {
	Interface   string       // egress interface name, sanitised
	Destination netip.Prefix // destination network
	Gateway     netip.Addr   // next hop; invalid (zero) when there is none. A link-local IPv6 next hop carries Interface as its zone.
	Metric      int
}

// NetworkRoutes lists the guest's routes (guest-network-get-route, QEMU ≥
// 9.1, Linux guests only). Routes the kernel marks as rejecting (RTF_REJECT)
// or not up are left out. At most 4096 routes are kept; past that it returns
// them with an error wrapping ErrTruncated.
func (c *Client) NetworkRoutes(ctx context.Context) ([]Route, error) {
	raw, err := c.call(ctx, "guest-network-get-route", nil)
	if err != nil {
		return nil, fmt.Errorf("guest-network-get-route: %w", err)
	}
	routes, err := decodeRoutes(raw)
	if err != nil {
		return routes, fmt.Errorf("guest-network-get-route: %w", err)
	}
	return routes, nil
}

// ReadFile reads up to limit bytes of a guest file with guest-file-open
// (mode "r"), guest-file-read (at most 64 KiB per call, until end of file or
// limit) and guest-file-close. The handle is always closed, even when ctx is
// already done (with a short deadline of its own). A file longer than limit
// is returned cut at limit, without error.
func (c *Client) ReadFile(ctx context.Context, path string, limit int) (data []byte, err error) {
	if limit < 1 {
		return nil, fmt.Errorf("read %q: limit %d must be positive", path, limit)
	}
	raw, err := c.call(ctx, "guest-file-open", map[string]string{"path": path, "mode": "r"})
	if err != nil {
		return nil, fmt.Errorf("guest-file-open %q: %w", path, err)
	}
	var handle int64
	if err := json.Unmarshal(raw, &handle); err != nil {
		return nil, fmt.Errorf("guest-file-open %q: handle is not an integer: %w", path, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		if _, cerr := c.call(cctx, "guest-file-close", map[string]int64{"handle": handle}); cerr != nil && err == nil {
			err = fmt.Errorf("guest-file-close %q handle %d: %w", path, handle, cerr)
		}
	}()

	empty := 0
	for len(data) < limit {
		want := min(fileReadChunk, limit-len(data))
		raw, err := c.call(ctx, "guest-file-read", map[string]int64{"handle": handle, "count": int64(want)})
		if err != nil {
			return nil, fmt.Errorf("guest-file-read %q: %w", path, err)
		}
		chunk, eof, err := decodeFileRead(raw, want)
		if err != nil {
			return nil, fmt.Errorf("guest-file-read %q: %w", path, err)
		}
		data = append(data, chunk...)
		if eof {
			break
		}
		// An agent that keeps answering nothing without eof would loop
		// forever.
		if len(chunk) == 0 {
			if empty++; empty >= 3 {
				return nil, fmt.Errorf("guest-file-read %q: no data and no end of file after %d reads", path, empty)
			}
		} else {
			empty = 0
		}
	}
	return data, nil
}

// decodeFileRead decodes a guest-file-read return value.
func decodeFileRead(raw json.RawMessage, asked int) ([]byte, bool, error) {
	var r struct {
		Count *int64  `json:"count"`
		Buf   *string `json:"buf-b64"`
		EOF   bool    `json:"eof"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, false, fmt.Errorf("malformed return value: %w", err)
	}
	if r.Count == nil || r.Buf == nil {
		return nil, false, errors.New("return value lacks count or buf-b64")
	}
	if base64.StdEncoding.DecodedLen(len(*r.Buf)) > asked+3 {
		return nil, false, fmt.Errorf("buf-b64 holds more than the %d bytes asked for", asked)
	}
	buf, err := base64.StdEncoding.DecodeString(*r.Buf)
	if err != nil {
		return nil, false, fmt.Errorf("buf-b64 is not valid base64: %w", err)
	}
	if len(buf) > asked || *r.Count != int64(len(buf)) {
		return nil, false, fmt.Errorf("count %d does not match %d decoded bytes (asked for %d)", *r.Count, len(buf), asked)
	}
	return buf, r.EOF, nil
}
