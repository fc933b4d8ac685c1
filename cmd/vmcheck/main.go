// Command vmcheck tells, for every running VM of a KVM/libvirt node, whether
// the VM can reach its gateway and the outside world, seen from inside the
// guest through the QEMU guest agent.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/clidoc"
	"github.com/vmcheck/vmcheck/output"
)

// version and commit are set by the linker (-X main.version=… -X
// main.commit=…, see the Makefile).
var version, commit = "dev", ""

func main() {
	cli.VersionPrinter = clidoc.VersionPrinter(commit)
	if err := newApp().Run(os.Args); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "vmcheck: %s\n", msg)
		}
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(output.ExitError)
	}
}

// newApp is the vmcheck CLI: its commands, and one line with exit code 3
// for an unknown command or flag or a value that does not parse.
func newApp() *cli.App {
	app := &cli.App{
		Name:    "vmcheck",
		Usage:   "check every running VM's gateway and external reachability from inside the guest",
		Version: version,
		Commands: []*cli.Command{
			checkCommand(),
			domainsCommand(),
			cronCommand(),
			serveCommand(),
			clidoc.Command(),
		},
		Action:         unknownCommand,
		ExitErrHandler: func(*cli.Context, error) {},
		Suggest:        true, // `vmcheck help chek`
	}
	app.OnUsageError = onUsageError("vmcheck", func() []cli.Flag { return app.Flags })
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError("vmcheck "+c.Name, func() []cli.Flag { return c.Flags })
	}
	return app
}
