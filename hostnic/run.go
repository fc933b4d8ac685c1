package hostnic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Bounds of a host command.
const (
	// maxOutput caps what vmcheck reads of a host command's output: an
	// OVSDB answer of a bridge with thousands of ports fits.
	maxOutput = 1 << 20
	// maxCommandTime bounds a host command when ctx allows longer.
	maxCommandTime = 5 * time.Second
)

// errTooLong is a host command whose output passed maxOutput.
var errTooLong = errors.New("output over the limit")

// Run runs a host command, argv without a shell, bounded as vmcheck's
// host-side reads are: see execRun.
func Run(ctx context.Context, argv []string) ([]byte, error) { return execRun(ctx, argv) }

// execRun runs argv without a shell until ctx ends or maxCommandTime
// passes, reading at most maxOutput bytes of its standard output; its
// error carries the first line of standard error.
func execRun(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, maxCommandTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // argv of validated names, no shell
	var stderr bytes.Buffer
	cmd.Stderr = &limitWriter{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", argv[0], err)
	}
	b, rerr := io.ReadAll(io.LimitReader(out, maxOutput+1))
	if len(b) > maxOutput {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s: %w (%d bytes)", argv[0], errTooLong, maxOutput)
	}
	werr := cmd.Wait()
	if err := errors.Join(rerr, werr); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", argv[0], ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w: %s", argv[0], err, guestagent.Sanitize(msg, 200))
	}
	return b, nil
}

// limitWriter keeps the first n bytes written to it.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
