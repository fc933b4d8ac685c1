// Command vmcheck tells, for every running VM of a KVM/libvirt node, whether
// the VM can reach its gateway and the outside world, seen from inside the
// guest through the QEMU guest agent.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
)

// version is set by the linker (-X main.version=…).
var version = "dev"

func main() {
	app := &cli.App{
		Name:    "vmcheck",
		Usage:   "check every running VM's gateway and external reachability from inside the guest",
		Version: version,
		Commands: []*cli.Command{
			checkCommand(),
			domainsCommand(),
			cronCommand(),
			serveCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "vmcheck: %v\n", err)
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(checker.ExitError)
	}
}
