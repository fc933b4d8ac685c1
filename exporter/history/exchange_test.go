package history

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

func TestRecorderLimits(t *testing.T) {
	rec := NewRecorder()
	big := `{"return":"` + strings.Repeat("x\n", 5000) + `"}`
	tr := rec.Wrap(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) { return []byte(big), nil }))
	for range maxExchanges + 5 {
		_, _ = tr.Command(context.Background(), []byte(`{"execute":"guest-info"}`))
	}
	ex := rec.Exchanges()
	if len(ex) != maxExchanges+1 || ex[len(ex)-1].Error == "" {
		t.Errorf("%d exchanges kept, want %d and a note", len(ex), maxExchanges+1)
	}
	if n := len([]rune(ex[0].Reply)); n > maxExchangeRunes+maxExchangeLines {
		t.Errorf("reply kept %d runes", n)
	}
	if ex[0].Command != "guest-info" {
		t.Errorf("command = %q", ex[0].Command)
	}
	if rec.Wrap(nil) != nil {
		t.Errorf("Wrap(nil) must stay nil so the checker sees no transport")
	}
}

// TestRecorderKeepsHeadOfLargeReply: a reply over maxRecordedReply is shown
// as its head with its size, never parsed or decoded whole.
func TestRecorderKeepsHeadOfLargeReply(t *testing.T) {
	rec := NewRecorder()
	out := strings.Repeat("QUJD", 3<<20/4) // 3 MiB of base64
	big := `{"return":{"exited":true,"exitcode":0,"out-data":"` + out + `"}}`
	tr := rec.Wrap(guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) { return []byte(big), nil }))
	_, _ = tr.Command(context.Background(), []byte(`{"execute":"guest-exec-status","arguments":{"pid":1}}`))
	ex := rec.Exchanges()
	if len(ex) != 1 {
		t.Fatalf("%d exchanges, want 1", len(ex))
	}
	want := fmt.Sprintf("(%d bytes in all; the first %d shown)", len(big), maxRecordedReply)
	if !strings.Contains(ex[0].Reply, want) {
		t.Errorf("reply does not end with %q: …%q", want, ex[0].Reply[max(0, len(ex[0].Reply)-80):])
	}
	if n := len([]rune(ex[0].Reply)); n > maxExchangeRunes+100 {
		t.Errorf("reply kept %d runes", n)
	}
	if ex[0].Output != "" {
		t.Errorf("output of a reply over the head was decoded: %d bytes", len(ex[0].Output))
	}
}
