package checker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

// hostileText holds what a hostile agent puts in every string it can: a
// terminal escape, a C1 CSI, bidi overrides and isolates, a zero-width
// joiner, a line separator, a newline and a NUL.
const hostileText = "\x1b[31mred\x1b[0m \u009b2J \u202eevil\u202c \u2066iso\u2069 zero\u200dwidth \u2028line\nnext\x00nul"

// forbidden reports a rune that no output may carry.
func forbidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// TestCheckHostileStrings runs a check against an agent that puts escape
// sequences in every string and more interfaces than are kept, and finds
// no forbidden character anywhere in the Result, and the truncation noted.
func TestCheckHostileStrings(t *testing.T) {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var ifs []string
	ifs = append(ifs, fmt.Sprintf(`{"name":%s,"hardware-address":"52:54:00:0c:00:13","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"192.0.2.13","prefix":24}]}`, q("tap0"+hostileText)))
	for range 300 {
		ifs = append(ifs, `{"name":"x"}`)
	}
	out := base64.StdEncoding.EncodeToString([]byte(hostileText + "\n" + strings.Repeat(hostileText, 50)))
	g := newLinuxGuest(t, func(string) string {
		return fmt.Sprintf(`{"return":{"exited":true,"exitcode":1,"out-data":%q,"err-data":%q}}`, out, out)
	})
	g.fixed["guest-get-osinfo"] = fmt.Sprintf(`{"return":{"id":%s,"name":%s,"version-id":%s,"pretty-name":%s}}`,
		q("debian"+hostileText), q(hostileText), q(hostileText), q(hostileText))
	g.fixed["guest-network-get-interfaces"] = `{"return":[` + strings.Join(ifs, ",") + `]}`
	info := recorded(t, "linux-basic.jsonl", "guest-info")
	g.fixed["guest-info"] = strings.Replace(info, `"version": "7.2.22"`, `"version": `+q("7.2.22"+hostileText), 1)

	// libvirt-side text (names, device and bridge names) passes the same
	// choke point.
	nic := capturedNIC
	nic.Device, nic.Model = "vnet0"+hostileText, "virtio"+hostileText
	d := runningDomain(g, nic)
	d.Name = "vm" + hostileText
	r := New(testConfig()).Check(context.Background(), d)
	doc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			if i := strings.IndexFunc(x, forbidden); i >= 0 {
				t.Errorf("%s = %q: forbidden character at %d", path, x, i)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		}
	}
	var tree any
	if err := json.Unmarshal(doc, &tree); err != nil {
		t.Fatal(err)
	}
	walk("result", tree)
	if !strings.Contains(r.Reason, "more than 256 interfaces") {
		t.Errorf("reason %q does not note the interfaces cut", r.Reason)
	}
	if r.Agent.Version == "" || !strings.HasPrefix(r.Agent.Version, "7.2.22") {
		t.Errorf("agent version %q, want the sanitised 7.2.22…", r.Agent.Version)
	}
	if len([]rune(r.Reason)) > maxReasonRunes {
		t.Errorf("reason has %d runes, more than %d", len([]rune(r.Reason)), maxReasonRunes)
	}
}
