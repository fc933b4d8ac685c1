//go:build cgo

package main

import (
	"context"
	"testing"
)

func TestServeWebUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--web.pages", "public"},
		{"--web.max-connections", "0"},
		{"--web.max-connections", "-5"},
	} {
		if code := runApp(context.Background(), t, serveCommand(), append([]string{"-c", "test:///default", "--web.listen-address", "127.0.0.1:0"}, args...)...); code != 3 {
			t.Errorf("vmcheck serve %v: exit %d, want 3", args, code)
		}
	}
}
