package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// budget is the most bytes a bomb reply line takes, newline included.
// libvirt relays an agent reply as one RPC string of at most 4 MiB, after
// parsing and re-encoding it; this stays below that with room to spare.
const budget = 3_900_000

// smallBudget is the most bytes of a reply that is not its round's bomb.
const smallBudget = 32 << 10

// The stages of a check, in the order vmcheck meets them. Each round (a
// round starts with guest-info) sets off the bomb of one stage, in turn;
// every other reply of the round is small, though just as nasty, so that a
// client refusing big replies still meets every bomb within bigStages
// rounds.
const (
	bigInfoEmpty  = iota // guest-info: {} entries
	bigInfoString        // guest-info: one huge version string
	bigOSInfo            // guest-get-osinfo
	bigNetwork           // guest-network-get-interfaces and guest-network-get-route
	bigFile              // guest-network-get-route fails (1 MiB error text); guest-file-read
	bigExec              // guest-exec runs (in other rounds it fails) and guest-exec-status
	bigStages
)

// limit is a reply's size budget: budget for its round's bomb, else smallBudget.
func limit(big bool) int {
	if big {
		return budget
	}
	return smallBudget
}

// floodSize is the length of each run of a flood.
const floodSize = 256 << 10

// commands are the commands guest-info reports, all enabled, before any
// filler: a client that keeps only the first entries still finds
// guest-exec enabled.
var commands = []string{
	"guest-exec", "guest-exec-status", "guest-info", "guest-ping", "guest-sync",
	"guest-sync-delimited", "guest-get-osinfo", "guest-network-get-interfaces",
	"guest-network-get-route", "guest-file-open", "guest-file-read", "guest-file-close",
}

// nastyBits are JSON string fragments, already escaped, that a careless
// client passes on to a terminal, a log line or a web page.
var nastyBits = []string{
	`\u001b[31mRED\u001b[0m`,                  // SGR colour
	`\u001b[2J\u001b[H`,                       // clear screen, cursor home
	`\u001b]0;owned\u0007`,                    // OSC: terminal title
	`\u001b]8;;http://203.0.113.66/\u001b\\x`, // OSC 8 hyperlink
	`\u009b31m\u0085\u0090`,                   // C1: CSI, NEL, DCS
	`\u202eevil\u202c`,                        // right-to-left override ... pop
	"\u202e\u2066raw\u2069",                   // the same, raw UTF-8
	`\u2066\u2067\u2068isolate\u2069`,         // bidi isolates
	`\u200b\u200c\u200d\u2060\ufeff\u00ad`,    // zero-width and format characters
	`\u2028\u2029`,                            // line and paragraph separators
	`\r\n\t\b\f\u000b\u007f`,                  // C0 and DEL
	`<script>alert(1)</script>&amp;`,          // for the status page
	`%s%n{{.}}`,                               // format strings and templates
	` ok `,
}

// nasty returns JSON string content (escaped) of at most n bytes made of
// nastyBits, never cutting one.
func nasty(n int) string {
	var b strings.Builder
	for i := 0; ; i++ {
		f := nastyBits[i%len(nastyBits)]
		if b.Len()+len(f) > n {
			return b.String()
		}
		b.WriteString(f)
	}
}

// blobLines make up the decoded output blobs: what ping or cat might
// print, laced with terminal escapes, other controls and invalid UTF-8.
var blobLines = []string{
	"PING 203.0.113.10 (203.0.113.10) 56(84) bytes of data.\n",
	"64 bytes from 203.0.113.10: icmp_seq=1 ttl=64 time=0.42 ms\x1b[2J\x1b[H\n",
	"\x1b]0;owned\x07\x1b[31mALERT\x1b[0m\r\n",
	"\xc2\x9b31m C1 CSI \xc2\x85 NEL\n",
	"\u202e RLO \u2066 LRI \u200b ZWSP \ufeff BOM \u2028 LS\n",
	"Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
	"eth0\x1b[8m\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
	"\x00\xff\xfe\xc3\x28 invalid UTF-8 \xed\xa0\x80\n",
	"\b\b\b\b\x7f\x0b\x0c<script>alert(1)</script>\n",
}

// blob returns n bytes made of blobLines.
func blob(n int) []byte {
	b := make([]byte, 0, n+128)
	for i := 0; len(b) < n; i++ {
		b = append(b, blobLines[i%len(blobLines)]...)
	}
	return b[:n]
}

// b64Blob returns the base64 of a blob whose encoding takes at most n bytes.
func b64Blob(n int) string {
	return base64.StdEncoding.EncodeToString(blob(n / 4 * 3))
}

// fill appends ",{}" to b until one more would take it past limit bytes.
func fill(b *bytes.Buffer, limit int) {
	if n := (limit - b.Len()) / 3; n > 0 {
		b.Write(bytes.Repeat([]byte(",{}"), n))
	}
}

// flood is what precedes some replies: for a raw-stream client newlines,
// then 0xFF bytes ended by a newline; for libvirt only the latter.
func flood(raw bool) []byte {
	var b []byte
	if raw {
		b = bytes.Repeat([]byte{'\n'}, floodSize)
	}
	b = append(b, bytes.Repeat([]byte{0xFF}, floodSize)...)
	return append(b, '\n')
}

// bomb answers a data command; n counts earlier calls of the same
// command. Every fourth reply to a raw-stream client comes after a flood.
func (a *agent) bomb(req request, n int) {
	if req.Execute == "guest-info" {
		a.rounds++
	}
	stage := max(a.rounds-1, 0) % bigStages
	var b []byte
	switch cmd := req.Execute; {
	case cmd == "guest-info":
		b = infoBomb(stage)
	case cmd == "guest-get-osinfo":
		b = osinfoBomb(limit(stage == bigOSInfo))
	case cmd == "guest-network-get-interfaces":
		b = ifaceBomb(a.mac, stage == bigNetwork)
	case cmd == "guest-network-get-route" && stage == bigFile:
		b = errorReply("GenericError", "failed to read routes"+nasty(1<<20))
	case cmd == "guest-network-get-route":
		b = routeBomb(stage == bigNetwork)
	case cmd == "guest-exec" && stage != bigExec:
		b = execFailed(req, nasty(smallBudget/4))
	case cmd == "guest-exec":
		a.pid++
		b = fmt.Appendf(nil, `{"return": {"pid": %d}}`+"\n", a.pid)
	case cmd == "guest-exec-status":
		b = execStatusBomb(stage == bigExec)
	case cmd == "guest-file-open":
		b = []byte(`{"return": 1000}` + "\n")
	case cmd == "guest-file-read":
		b = fileReadBomb(n, limit(stage == bigFile))
	default: // guest-file-close among others: an error with a long, nasty text
		b = errorReply("CommandNotFound", "The command "+quote(cmd)+" has not been found"+nasty(limit(stage == bigFile)/4))
	}
	if a.raw && n%4 == 3 {
		a.send(flood(true))
	}
	a.send(b)
}

// infoBomb is guest-info: the real commands first, then a hundred with
// nasty names (≈ 26 kB); at stage bigInfoEmpty {} entries follow up to
// the budget, at stage bigInfoString the version is one huge nasty string.
func infoBomb(stage int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"return": {"version": "7.2.0`)
	if stage == bigInfoString {
		b.WriteString(nasty(budget - 64<<10))
	} else {
		b.WriteString(nasty(256))
	}
	b.WriteString(`", "supported_commands": [`)
	for i, c := range commands {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"enabled": true, "name": %q, "success-response": true}`, c)
	}
	for range 100 {
		fmt.Fprintf(&b, `, {"enabled": true, "name": "guest-exec%s", "success-response": true}`, nasty(200))
	}
	if stage == bigInfoEmpty {
		fill(&b, budget-len("]}}\n"))
	}
	b.WriteString("]}}\n")
	return b.Bytes()
}

// osinfoBomb is guest-get-osinfo in size bytes at most: every field a
// plausible value followed by a long nasty string (variant-id starts with
// a NUL).
func osinfoBomb(size int) []byte {
	fields := [][2]string{
		{"id", "debian"}, {"name", "Debian GNU/Linux"}, {"pretty-name", "Debian GNU/Linux 12 (bookworm)"},
		{"version", "12 (bookworm)"}, {"version-id", "12"}, {"kernel-release", "6.1.0-hostile"},
		{"kernel-version", "#1 SMP PREEMPT_DYNAMIC"}, {"machine", "x86_64"}, {"variant", "server"},
		{"variant-id", `\u0000server`},
	}
	each := (size - 1024) / len(fields)
	var b bytes.Buffer
	b.WriteString(`{"return": {`)
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"%s": "%s%s"`, f[0], f[1], nasty(each-len(f[1])-len(f[0])-8))
	}
	b.WriteString("}}\n")
	return b.Bytes()
}

// ifaceBomb is guest-network-get-interfaces: an interface with mac (the
// domain's NIC) holding addresses, some nasty, and {} entries (20,000 and
// 300,000 when big, else 100 and 1,000); interfaces with nasty names and
// addresses, one with mac again; {} interfaces up to the size limit.
func ifaceBomb(mac string, big bool) []byte {
	addrs, empties, others := 100, 1000, 5
	if big {
		addrs, empties, others = 20000, 300000, 50
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"return": [{"name": "eth0%s", "hardware-address": %q, "ip-addresses": [`, nasty(200), mac)
	for i := range addrs {
		if i > 0 {
			b.WriteString(",")
		}
		switch {
		case i%13 == 5:
			fmt.Fprintf(&b, `{"ip-address": "192.0.2.1%s", "ip-address-type": "ipv4", "prefix": 24}`, nasty(40))
		case i%7 == 3:
			fmt.Fprintf(&b, `{"ip-address": "2001:db8:ffff::%x", "ip-address-type": "ipv6", "prefix": 64}`, i)
		default:
			fmt.Fprintf(&b, `{"ip-address": "10.%d.%d.%d", "ip-address-type": "ipv4", "prefix": 8}`, i>>16, i>>8&255, i&255)
		}
	}
	b.Write(bytes.Repeat([]byte(",{}"), empties))
	b.WriteString(`]}`)
	for i := range others {
		fmt.Fprintf(&b, `, {"name": "%s", "hardware-address": "52:54:00:0c:%s", "ip-addresses": [{"ip-address": "198.51.100.%d%s", "ip-address-type": "ipv4", "prefix": 24}]}`,
			nasty(300), nasty(60), i, nasty(60))
	}
	fmt.Fprintf(&b, `, {"name": "eth0", "hardware-address": %q, "ip-addresses": [{"ip-address": "198.51.100.66", "ip-address-type": "ipv4", "prefix": 24}]}`, mac)
	fill(&b, limit(big)-len("]}\n"))
	b.WriteString("]}\n")
	return b.Bytes()
}

// routeBomb is guest-network-get-route: the real default route first, then
// more IPv4 and IPv6 default routes on eth0 (each a gateway a careless
// client would ping; 2,000 and 500 when big, else 20 and 5), routes with
// nasty fields, {} entries up to the size limit.
func routeBomb(big bool) []byte {
	v4, v6, bad := 20, 5, 5
	if big {
		v4, v6, bad = 2000, 500, 200
	}
	var b bytes.Buffer
	b.WriteString(`{"return": [{"iface": "eth0", "destination": "0.0.0.0", "gateway": "192.0.2.1", "mask": "0.0.0.0", "metric": 0, "flags": 3, "version": 4}`)
	for i := range v4 {
		fmt.Fprintf(&b, `, {"iface": "eth0", "destination": "0.0.0.0", "gateway": "10.%d.%d.1", "mask": "0.0.0.0", "metric": %d, "flags": 3, "version": 4}`, i>>8, i&255, i+1)
	}
	for i := range v6 {
		fmt.Fprintf(&b, `, {"iface": "eth0", "destination": "::", "desprefixlen": "0", "nexthop": "2001:db8:%x::1", "metric": %d, "version": 6}`, i+1, i+1)
	}
	for i := range bad {
		fmt.Fprintf(&b, `, {"iface": "eth0%s", "destination": "0.0.0.0%s", "gateway": "192.0.2.%d%s", "mask": "0.0.0.0", "metric": %d, "flags": 3, "version": 4}`,
			nasty(100), nasty(30), i, nasty(30), i)
	}
	fill(&b, limit(big)-len("]}\n"))
	b.WriteString("]}\n")
	return b.Bytes()
}

// execFailed is guest-exec's error when the program cannot be spawned, as
// qemu-ga words it, followed by more. It keeps every probe of this guest
// from passing or failing: its verdict is unknown.
func execFailed(req request, more string) []byte {
	var path string
	_ = json.Unmarshal([]byte(req.arg("path")), &path)
	return errorReply("GenericError", "Failed to execute child process \u201c"+quote(path)+"\u201d (No such file or directory)"+more)
}

// execStatusBomb is guest-exec-status: exited with status 2 (a ping that
// could not run); stdout a base64 blob (≈ 2.9 MiB when big), stderr what
// is left of the size limit; "exited" comes last.
func execStatusBomb(big bool) []byte {
	out := 16 << 10 // base64 bytes
	if big {
		out = 3_040_000
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"return": {"exitcode": 2, "out-data": "%s", "err-data": "`, b64Blob(out))
	b.WriteString(b64Blob(limit(big) - b.Len() - 128))
	b.WriteString(`", "out-truncated": false, "err-truncated": false, "exited": true}}` + "\n")
	return b.Bytes()
}

// fileReadBomb is guest-file-read in size bytes at most: a buf-b64 filling
// it, a count that lies (rotating through 5, 0, 999999999999 and -1), and
// never eof.
func fileReadBomb(n, size int) []byte {
	counts := []string{"5", "0", "999999999999", "-1"}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"return": {"count": %s, "eof": false, "buf-b64": "`, counts[n%len(counts)])
	b.WriteString(b64Blob(size - b.Len() - 16))
	b.WriteString(`"}}` + "\n")
	return b.Bytes()
}
