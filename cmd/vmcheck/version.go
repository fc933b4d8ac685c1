package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// commit is the VCS revision vmcheck was built from, set by the linker
// (-X main.commit=…, see the Makefile). A plain `go build` leaves it empty
// and the revision the Go toolchain stamped into the binary is used.
var commit string

func init() {
	cli.VersionPrinter = printVersion
}

// printVersion is `vmcheck --version`: the release, the commit and the Go
// toolchain that built it, on one line.
func printVersion(c *cli.Context) {
	fmt.Fprintln(c.App.Writer, versionLine(c.App.Version))
}

// versionLine formats what --version prints for the release v.
func versionLine(v string) string {
	return fmt.Sprintf("vmcheck version %s (commit %s, %s, %s/%s)",
		v, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildCommit returns commit or, without one, the revision recorded in the
// binary's build info ("+dirty" when the tree had local changes), or
// "unknown".
func buildCommit() string {
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
