package timing

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSleep: Sleep waits its duration, returns at once with the context's
// error when it has ended, and does not wait for a duration that is not
// positive.
func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep(1ms) = %v, want nil", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(1h) on an ended context = %v, want context.Canceled", err)
	}
	if err := Sleep(ctx, -time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(-1s) on an ended context = %v, want context.Canceled", err)
	}
}

func TestOr(t *testing.T) {
	for _, tt := range []struct{ d, want time.Duration }{
		{0, time.Minute}, {-time.Second, time.Minute}, {time.Second, time.Second},
	} {
		if got := Or(tt.d, time.Minute); got != tt.want {
			t.Errorf("Or(%s, 1m) = %s, want %s", tt.d, got, tt.want)
		}
	}
}
