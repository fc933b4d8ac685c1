package cron

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StateDirMode is the mode of the directories vmcheck creates for its state
// file: the file names every VM of the node.
const StateDirMode fs.FileMode = 0o700

// EnsureStateDir makes sure the directory of the state file path exists,
// creating it and any missing parent with mode 0700 (the cron file and a
// hand-written unit point --state-file into /var/lib/vmcheck, which
// nothing else creates). An existing directory is left as it is. The error
// names the directory that could not be made.
func EnsureStateDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case err == nil && st.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("state file directory %s: not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state file directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, StateDirMode); err != nil {
		return fmt.Errorf("creating the state file directory %s: %w", dir, err)
	}
	return nil
}
