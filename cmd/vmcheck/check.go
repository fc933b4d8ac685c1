package main

import (
	"context"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/output"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "ping the external target and every gateway from inside each running VM, one round",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, log *logrus.Logger, cfg checker.Config, src hostSource) error {
				if len(cfg.External) == 0 {
					log.Warn("no external target configured (--external or external: in the config); external probes are reported as not_configured")
				}
				results, err := checker.New(cfg).Run(ctx, src)
				if err != nil {
					return exitError(err)
				}
				for _, r := range results {
					log.WithFields(output.LogFields(r)).Debug("domain checked")
				}
				if err := write(c.String("output"), results); err != nil {
					return exitError(err)
				}
				return exitCode(results)
			})
		},
	}
}

// write prints the report in the --output format: JSON, or the table,
// coloured on a terminal.
func write(format string, results []checker.Result) error {
	if format == "json" {
		return output.WriteJSON(os.Stdout, results)
	}
	return output.WriteTable(os.Stdout, results, term.IsTerminal(int(os.Stdout.Fd())))
}

// exitCode turns the results into the Nagios exit code, without a message.
func exitCode(results []checker.Result) error {
	if code := output.ExitCode(results); code != output.ExitOK {
		return cli.Exit("", code)
	}
	return nil
}
