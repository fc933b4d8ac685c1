package cron

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFileAtomicCreatesStateDir is the cron deployment of
// deploy/cron/vmcheck: --state-file points into a directory that does not
// exist yet. It is created with mode 0700, so the history survives the run.
func TestWriteFileAtomicCreatesStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "vmcheck")
	path := filepath.Join(dir, "cron-state.json")
	if err := WriteFileAtomic(path, []byte("{}\n")); err != nil {
		t.Fatalf("WriteFileAtomic(%q) = %v", path, err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != StateDirMode {
			t.Errorf("%s: mode %v, want %v", d, got, StateDirMode)
		}
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "{}\n" {
		t.Errorf("state file = %q, %v", b, err)
	}
}

func TestEnsureStateDirKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStateDir(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o755 {
		t.Errorf("existing directory's mode changed to %v", st.Mode().Perm())
	}
}

// TestEnsureStateDirNamesThePath: a directory that cannot be made is an
// error naming it.
func TestEnsureStateDirNamesThePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(file, "state.json"),        // the "directory" is a file
		filepath.Join(file, "sub", "state.json"), // a parent is a file
	} {
		err := EnsureStateDir(path)
		if err == nil || !strings.Contains(err.Error(), filepath.Dir(path)) {
			t.Errorf("EnsureStateDir(%q) = %v, want an error naming %s", path, err, filepath.Dir(path))
		}
		if err := WriteFileAtomic(path, []byte("{}")); err == nil {
			t.Errorf("WriteFileAtomic(%q) succeeded", path)
		}
	}
}

// TestCronPrepare: Prepare refuses a missing textfile directory, a textfile
// name that is not a .prom file name, and a state file whose directory
// cannot be made, and creates a missing state directory 0700.
func TestCronPrepare(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cron Job
		want string // part of the error; "" for none
	}{
		{"ok", Job{TextfileDir: tmp, TextfileName: "vmcheck.prom", StateFile: filepath.Join(tmp, "new", "state.json")}, ""},
		{"no dir", Job{TextfileDir: filepath.Join(tmp, "nope"), TextfileName: "vmcheck.prom"}, "TextfileDir"},
		{"bad name", Job{TextfileDir: tmp, TextfileName: "x/vmcheck.prom"}, "TextfileName"},
		{"state under a file", Job{TextfileDir: tmp, TextfileName: "vmcheck.prom", StateFile: filepath.Join(file, "state.json")}, "StateFile"},
	}
	for _, tt := range tests {
		err := tt.cron.Prepare()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Prepare() = %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
	st, err := os.Stat(filepath.Join(tmp, "new"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, mode %v; want created 0700", err, st)
	}
}
