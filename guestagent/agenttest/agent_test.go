package agenttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agenttest"
)

func TestAgentReplies(t *testing.T) {
	tests := []struct {
		name      string
		v         any
		err       error
		wantReply string // "": want a transport error
	}{
		{"nil is the empty object", nil, nil, `{"return":{}}`},
		{"Go value", map[string]int{"pid": 7}, nil, `{"return":{"pid":7}}`},
		{"raw message as it is", json.RawMessage(`{"pid": 7 }`), nil, `{"return":{"pid": 7 }}`},
		{"raw message, malformed", json.RawMessage(`{"pid":`), nil, `{"return":{"pid":}`},
		{"agent error", nil, agenttest.NotFound("guest-x"), `{"error":{"class":"CommandNotFound","desc":"The command guest-x has not been found"}}`},
		{"wrapped agent error", nil, fmt.Errorf("x: %w", &guestagent.Error{Class: "GenericError", Desc: "d"}), `{"error":{"class":"GenericError","desc":"d"}}`},
		{"transport failure", nil, fmt.Errorf("fake: %w", guestagent.ErrUnresponsive), ""},
		{"unencodable value", make(chan int), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := agenttest.New(func(string, json.RawMessage) (any, error) { return tt.v, tt.err })
			reply, err := a.Command(context.Background(), []byte(`{"execute":"guest-x"}`))
			if tt.wantReply == "" {
				if err == nil {
					t.Errorf("Command() = %s, want an error", reply)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("Command() error = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || string(reply) != tt.wantReply {
				t.Errorf("Command() = %s, %v; want %s", reply, err, tt.wantReply)
			}
		})
	}
}

// The closure sees the command and its arguments; the client decodes the
// answer; Calls counts.
func TestAgentThroughClient(t *testing.T) {
	a := agenttest.New(func(cmd string, args json.RawMessage) (any, error) {
		switch cmd {
		case "guest-ping":
			return nil, nil
		case "guest-exec":
			var x struct {
				Path string   `json:"path"`
				Arg  []string `json:"arg"`
			}
			if err := json.Unmarshal(args, &x); err != nil || x.Path != "ping" || len(x.Arg) != 1 {
				t.Errorf("guest-exec arguments %s", args)
			}
			return map[string]int64{"pid": 42}, nil
		}
		return nil, agenttest.NotFound(cmd)
	})
	c := guestagent.New(a)
	ctx := context.Background()
	for range 2 {
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}
	if pid, err := c.Exec(ctx, guestagent.Command{Path: "ping", Args: []string{"192.0.2.1"}}); pid != 42 || err != nil {
		t.Errorf("Exec = %d, %v; want 42", pid, err)
	}
	if _, err := c.OSInfo(ctx); !errors.Is(err, guestagent.ErrCommandNotFound) {
		t.Errorf("OSInfo error = %v, want ErrCommandNotFound", err)
	}
	if got := a.Calls("guest-ping"); got != 2 {
		t.Errorf("Calls(guest-ping) = %d, want 2", got)
	}
	if _, err := a.Command(ctx, []byte("not json")); err == nil {
		t.Error("Command(not json): no error")
	}
}

// NewContext passes the request's context: a frozen agent ends with it.
func TestAgentContext(t *testing.T) {
	a := agenttest.NewContext(func(ctx context.Context, _ string, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("frozen: %w: %w", guestagent.ErrUnresponsive, ctx.Err())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := guestagent.New(a).Ping(ctx); !errors.Is(err, guestagent.ErrUnresponsive) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping error = %v, want ErrUnresponsive and DeadlineExceeded", err)
	}
}
