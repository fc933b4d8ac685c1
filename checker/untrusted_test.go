package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
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
	ifs := []any{map[string]any{
		"name": "tap0" + hostileText, "hardware-address": "52:54:00:0c:00:13",
		"ip-addresses": []map[string]any{{"ip-address-type": "ipv4", "ip-address": "192.0.2.13", "prefix": 24}},
	}}
	for range 300 {
		ifs = append(ifs, map[string]string{"name": "x"})
	}
	out := []byte(hostileText + "\n" + strings.Repeat(hostileText, 50))
	g := newLinuxGuest(t, func(string) guestagent.ExecStatus {
		code := 1
		return guestagent.ExecStatus{Exited: true, ExitCode: &code, Stdout: out, Stderr: out}
	})
	g.answers["guest-get-osinfo"] = agenttest.Returns(map[string]string{
		"id": "debian" + hostileText, "name": hostileText, "version-id": hostileText, "pretty-name": hostileText,
	})
	g.answers["guest-network-get-interfaces"] = agenttest.Returns(ifs)
	g.answers["guest-info"] = agenttest.Returns(hostileInfo(t))

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

// hostileInfo is the captured guest-info (testdata/qga/linux-basic.jsonl)
// with hostileText appended to the agent's version.
func hostileInfo(t *testing.T) map[string]any {
	t.Helper()
	v, err := agenttest.Load(t, qga+"linux-basic.jsonl").Answer("guest-info", nil)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal(v.(json.RawMessage), &info); err != nil {
		t.Fatal(err)
	}
	info["version"] = info["version"].(string) + hostileText
	return info
}
