// Package timing holds the two time helpers several packages of vmcheck
// need: Sleep, a wait that ends with its context, and Or, a duration's
// default.
package timing

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends. It returns ctx's error when ctx ended
// first, or when d is not positive and ctx has already ended; else nil.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Or returns d when it is positive, else def: a zero (or negative)
// duration option takes its default.
func Or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
