package guestagent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

// hostileSizes are the reply sizes the hostile benchmarks use: just under
// libvirt's 4 MiB RPC string limit (what a hostile agent can send through
// libvirt), and just under the command's own reply limit (the most that
// reaches a decoder).
var hostileSizes = []struct {
	name string
	size func(command string) int
}{
	{"4MiB", func(string) int { return 4<<20 - 4<<10 }},
	{"at-limit", func(c string) int { return guestagent.ReplyLimit(c) - 64 }},
}

// fill repeats elem, comma-separated, between head and tail so that the
// whole reply is at most size bytes.
func fill(head, elem, tail string, size int) []byte {
	n := max(0, (size-len(head)-len(tail))/(len(elem)+1))
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(elem)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// escapes is a hostile string element: terminal escapes, C1 CSI, bidi
// overrides, as JSON escapes.
const escapes = `\u001b[31m\u009b2J\u202e\u2066\n`

// hostileReplies are allocation bombs for each decoder a check runs.
var hostileReplies = []struct {
	command string
	reply   func(size int) []byte
	call    func(ctx context.Context, c *guestagent.Client) error
}{
	{"guest-info", func(n int) []byte {
		return fill(`{"return":{"version":"7.2","supported_commands":[`, `{}`, `]}}`, n)
	}, func(ctx context.Context, c *guestagent.Client) error { _, err := c.Info(ctx); return err }},
	{"guest-get-osinfo", func(n int) []byte {
		return []byte(`{"return":{"id":"` + strings.Repeat(escapes, (n-30)/len(escapes)) + `"}}`)
	}, func(ctx context.Context, c *guestagent.Client) error { _, err := c.OSInfo(ctx); return err }},
	{"guest-network-get-interfaces", func(n int) []byte {
		return fill(`{"return":[{"name":"eth0","ip-addresses":[`, `{}`, `]}]}`, n)
	}, func(ctx context.Context, c *guestagent.Client) error { _, err := c.NetworkInterfaces(ctx); return err }},
	{"guest-network-get-route", func(n int) []byte {
		return fill(`{"return":[`, `{"iface":"e","destination":"0.0.0.0","mask":"0.0.0.0","gateway":"192.0.2.1","version":4}`, `]}`, n)
	}, func(ctx context.Context, c *guestagent.Client) error { _, err := c.NetworkRoutes(ctx); return err }},
	{"guest-exec-status", func(n int) []byte {
		return []byte(`{"return":{"exited":true,"exitcode":0,"out-data":"` + strings.Repeat("G1szMW0K", (n-60)/8) + `"}}`)
	}, func(ctx context.Context, c *guestagent.Client) error { _, err := c.Wait(ctx, 1, 64<<10); return err }},
}

// BenchmarkHostileReply decodes allocation bombs through the client, as a
// check would: B/op is what one hostile reply costs vmcheck beyond the
// reply itself (which the transport already holds). Compare with the
// honest replies of BenchmarkInfo and the others in bench_test.go.
func BenchmarkHostileReply(b *testing.B) {
	for _, h := range hostileReplies {
		for _, sz := range hostileSizes {
			reply := h.reply(sz.size(h.command))
			b.Run(fmt.Sprintf("%s/%s", h.command, sz.name), func(b *testing.B) {
				c := canned(reply)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(len(reply)))
				for b.Loop() {
					_ = h.call(ctx, c)
				}
			})
		}
	}
}
