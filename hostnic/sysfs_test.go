package hostnic

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// fakeLink lays out one device of a fake /sys/class/net in dir: its
// address, operstate, flags (0x1003 up, 0x1002 down) and master.
func fakeLink(t *testing.T, dir, name, addr, oper, flags, master string) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"address": addr, "operstate": oper, "flags": flags} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if master != "" {
		if err := os.Symlink(filepath.Join("..", master), filepath.Join(d, "master")); err != nil {
			t.Fatal(err)
		}
	}
}

// fileRunner answers every command with a file of testdata/nic, and
// records the argv.
func fileRunner(t *testing.T, file string, argv *[]string) Runner {
	t.Helper()
	return func(_ context.Context, a []string) ([]byte, error) {
		*argv = a
		return os.ReadFile(filepath.Join("..", "testdata", "nic", file))
	}
}

const (
	flagsUp   = "0x1003"
	flagsDown = "0x1002"
)
