package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoundOptionsNameTheFlags: the exporter's packages name their options
// as Go fields (TextfileDir, DownAfter); serve and cron name the flag that
// set them, with exit 3 before any round.
func TestRoundOptionsNameTheFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	q := []string{"--qemu-dir", t.TempDir()}
	missing := filepath.Join(dir, "nope")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"cron", "--textfile-dir", missing}, `--textfile-dir "` + missing + `": not a directory`},
		{[]string{"cron", "--textfile-dir", dir, "--textfile-name", "x/vmcheck.prom"}, `--textfile-name "x/vmcheck.prom": must be a file name ending in .prom`},
		{[]string{"cron", "--textfile-dir", dir, "--state-file", filepath.Join(file, "state.json")}, "--state-file: state file directory " + file + ": not a directory"},
		{[]string{"cron", "--textfile-dir", dir, "--down-after", "0"}, "--down-after: must be at least 1, got 0"},
		{[]string{"serve", "--interval", "500ms"}, "--interval: must be at least 1s, got 500ms"},
		{[]string{"serve", "--down-after", "0"}, "--down-after: must be at least 1, got 0"},
	}
	for _, tt := range tests {
		args := append(append([]string(nil), tt.args...), q...)
		code, msg, _ := run(t, args...)
		if code != 3 || msg != tt.want {
			t.Errorf("vmcheck %s = exit %d, %q; want exit 3, %q", strings.Join(args, " "), code, msg, tt.want)
		}
	}
}
