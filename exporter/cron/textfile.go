package cron

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// WriteTextfile gathers g and writes it in the Prometheus text format to
// dir/name for node_exporter's textfile collector. The file is written
// under a temporary name without the .prom suffix (which the collector
// ignores), synced, then renamed into place, so a reader never sees half a
// file. Samples carry no timestamps (node_exporter rejects those).
func WriteTextfile(dir, name string, g prometheus.Gatherer) error {
	if !strings.HasSuffix(name, ".prom") || strings.ContainsRune(name, filepath.Separator) {
		return fmt.Errorf("textfile name %q: must be a file name ending in .prom", name)
	}
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	return writeAtomic(filepath.Join(dir, name), buf.Bytes(), 0o644)
}

// renameFile is os.Rename; tests look at the temporary file through it.
var renameFile = os.Rename

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename. The temporary file is created with mode 0600
// (os.CreateTemp) and given perm only once written, so it is never more
// open than either.
func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing %s: %w", tmp, werr)
	}
	if err := renameFile(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	// Make the rename durable; a directory that cannot be synced is not
	// worth failing the run for.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file and a
// rename, with mode 0600 throughout: cron mode keeps its history state
// with it, which names every VM of the node and is nobody else's business.
// A missing directory is created with mode 0700 (EnsureStateDir).
func WriteFileAtomic(path string, data []byte) error {
	if path == "" {
		return errors.New("writing file: empty path")
	}
	if err := EnsureStateDir(path); err != nil {
		return err
	}
	return writeAtomic(path, data, 0o600)
}
