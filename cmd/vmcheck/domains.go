package main

import (
	"context"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/settings"
)

func domainsCommand() *cli.Command {
	return &cli.Command{
		Name:  "domains",
		Usage: "show discovery only: domains, NICs, addresses, gateways and their sources, agent state (no ping)",
		Flags: commonFlags("warn", "text", true),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, _ *logrus.Logger, cfg settings.Config, src hostSource) error {
				chk := checker.New(cfg)
				doms, skipped, err := selectDomains(ctx, c, chk, src)
				if err != nil {
					return err
				}
				err = output.Format(c.String("output")).WriteDomains(os.Stdout, chk.DiscoverAll(ctx, doms))
				output.WriteSkipped(os.Stderr, cfg.Host(), skipped)
				return err
			})
		},
	}
}
