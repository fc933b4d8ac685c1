package clidoc

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// VersionPrinter returns what `vmcheck --version` runs (cli.VersionPrinter):
// it prints VersionLine for the app's version on one line. commit is the
// VCS revision the linker set, or "".
func VersionPrinter(commit string) func(*cli.Context) {
	return func(c *cli.Context) { fmt.Fprintln(c.App.Writer, VersionLine(c.App.Version, commit)) }
}

// VersionLine formats the release v, the commit and the Go toolchain that
// built vmcheck. Without a commit from the linker (a plain `go build`) the
// revision the Go toolchain stamped into the binary is used.
func VersionLine(v, commit string) string {
	return fmt.Sprintf("vmcheck version %s (commit %s, %s, %s/%s)",
		v, buildCommit(commit), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildCommit returns commit or, without one, the revision recorded in the
// binary's build info ("+dirty" when the tree had local changes), or
// "unknown".
func buildCommit(commit string) string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}
