package main

import (
	"context"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vmcheck/vmcheck/checker"
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
					log.WithFields(resultFields(r)).Debug("domain checked")
				}
				if err := write(c.String("output"), results); err != nil {
					return exitError(err)
				}
				if code := checker.ExitCode(results); code != 0 {
					return cli.Exit("", code)
				}
				return nil
			})
		},
	}
}

func write(format string, results []checker.Result) error {
	if format == "json" {
		return checker.WriteJSON(os.Stdout, results)
	}
	return checker.WriteTable(os.Stdout, results, term.IsTerminal(int(os.Stdout.Fd())))
}

// resultFields is the structured form of one result for logrus.
func resultFields(r checker.Result) map[string]any {
	f := map[string]any{
		"domain":   r.Name,
		"uuid":     r.UUID,
		"state":    string(r.State),
		"agent":    string(r.Agent.State),
		"os":       r.OS.Family,
		"duration": r.Duration,
	}
	if r.Reason != "" {
		f["reason"] = r.Reason
	}
	return f
}
