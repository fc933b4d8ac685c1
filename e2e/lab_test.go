//go:build e2e

// Package e2e runs vmcheck against the project's lab: real libvirtd, real
// QEMU (TCG) and real qemu-ga guests in network namespaces the lab created.
// `make e2e` brings the lab up, exports $VMCHECK_LAB_DIR/env and runs these
// tests; see lab/lab.sh.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
)

var (
	labURI    string
	external4 string
	external6 string
	vmcheck   string // path of the vmcheck binary under test
	labScript string
)

func TestMain(m *testing.M) {
	labURI = os.Getenv("VMCHECK_LAB_URI")
	external4 = os.Getenv("VMCHECK_LAB_EXTERNAL4")
	external6 = os.Getenv("VMCHECK_LAB_EXTERNAL6")
	if labURI == "" || external4 == "" || external6 == "" {
		fmt.Fprintln(os.Stderr, "e2e: VMCHECK_LAB_URI, VMCHECK_LAB_EXTERNAL4 and VMCHECK_LAB_EXTERNAL6 must be set: run `make e2e` (it brings the lab up)")
		os.Exit(2)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	labScript = filepath.Join(root, "lab", "lab.sh")
	dir, err := os.MkdirTemp("", "vmcheck-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	vmcheck = filepath.Join(dir, "vmcheck")
	build := exec.Command("go", "build", "-o", vmcheck, "./cmd/vmcheck")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building vmcheck:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run is one vmcheck invocation.
type run struct {
	report   model.Report
	code     int
	stdout   string
	stderr   string
	duration time.Duration
}

// vmcheckRun runs the vmcheck binary with args and a hard outer deadline, so
// a hang fails the test instead of the suite.
func vmcheckRun(t *testing.T, limit time.Duration, args ...string) run {
	t.Helper()
	r, err := vmcheckExec(limit, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// vmcheckExec is vmcheckRun for use outside the test goroutine.
func vmcheckExec(limit time.Duration, args ...string) (run, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, vmcheck, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	if ctx.Err() != nil {
		return r, fmt.Errorf("vmcheck %v did not finish within %s (stderr: %s)", args, limit, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("vmcheck %v: %w", args, err)
	}
	return r, nil
}

// check runs `vmcheck check --output json` against the lab and decodes it.
func check(t *testing.T, limit time.Duration, args ...string) run {
	t.Helper()
	r, err := checkExec(limit, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkExec is check for use outside the test goroutine.
func checkExec(limit time.Duration, args ...string) (run, error) {
	full := append([]string{"check", "-c", labURI, "--output", "json"}, args...)
	r, err := vmcheckExec(limit, full...)
	if err != nil {
		return r, err
	}
	if r.code == output.ExitError {
		return r, fmt.Errorf("vmcheck %v exited 3: %s", full, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &r.report); err != nil {
		return r, fmt.Errorf("vmcheck %v: output is not the JSON contract: %w\n%s", full, err, r.stdout)
	}
	return r, nil
}

// lab runs lab/lab.sh with args.
func lab(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, labScript, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lab %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// domain returns the result for name, failing the test if it is missing.
func domain(t *testing.T, r run, name string) model.Result {
	t.Helper()
	for _, d := range r.report.Domains {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no result for %s in %s", name, r.stdout)
	return model.Result{}
}

// probe returns the first probe of kind at target.
func probe(t *testing.T, d model.Result, kind model.ProbeKind, target string) model.ProbeResult {
	t.Helper()
	for _, p := range d.Probes {
		if p.Kind == kind && p.Target == target {
			return p
		}
	}
	t.Fatalf("%s: no %s probe to %s in %+v", d.Name, kind, target, d.Probes)
	return model.ProbeResult{}
}

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}
