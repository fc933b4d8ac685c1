// Package probetest loads the real captures of the probe methods' tools
// (testdata/probe/linux) for the tests of the packages that run them.
package probetest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Dir is testdata/probe/linux as seen from a package one level below the
// repository's root (probe, checker), where go test runs its tests.
const Dir = "../testdata/probe/linux"

// Linux returns the capture name of Dir as the exited status of a guest
// command: NAME.txt its stdout, NAME.stderr.txt its stderr (if any),
// NAME.exit its exit code.
func Linux(tb testing.TB, name string) guestagent.ExecStatus {
	tb.Helper()
	out, err := os.ReadFile(filepath.Join(Dir, name+".txt"))
	if err != nil {
		tb.Fatal(err)
	}
	errOut, _ := os.ReadFile(filepath.Join(Dir, name+".stderr.txt"))
	code, err := os.ReadFile(filepath.Join(Dir, name+".exit"))
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(code)))
	if err != nil {
		tb.Fatalf("%s.exit: %v", name, err)
	}
	return guestagent.ExecStatus{Exited: true, ExitCode: &n, Stdout: out, Stderr: errOut}
}
