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
		Flags: commonFlags("warn", "text", true),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, log *logrus.Logger, cfg checker.Config, src hostSource) error {
				warnNoExternal(log, cfg)
				results, err := checker.New(cfg).Run(ctx, src)
				if err != nil {
					return exitError(err)
				}
				for _, r := range results {
					log.WithFields(output.LogFields(r)).Debug("domain checked")
				}
				color := term.IsTerminal(int(os.Stdout.Fd()))
				if err := output.Format(c.String("output")).WriteCheck(os.Stdout, results, color); err != nil {
					return exitError(err)
				}
				return exitCode(results)
			})
		},
	}
}

// warnNoExternal logs, once, that the external probes have no target.
func warnNoExternal(log *logrus.Logger, cfg checker.Config) {
	if len(cfg.External) == 0 {
		log.Warn("no external target configured (--external or external: in the config); external probes are reported as not_configured")
	}
}

// exitCode turns the results into the Nagios exit code, without a message.
func exitCode(results []checker.Result) error {
	if code := output.ExitCode(results); code != output.ExitOK {
		return cli.Exit("", code)
	}
	return nil
}
