package main

import (
	"context"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
)

func domainsCommand() *cli.Command {
	return &cli.Command{
		Name:  "domains",
		Usage: "show discovery only: domains, NICs, addresses, gateways and their sources, agent state (no ping)",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, _ *logrus.Logger, cfg checker.Config, src hostSource) error {
				chk := checker.New(cfg)
				doms, err := chk.Select(ctx, src)
				if err != nil {
					return exitError(err)
				}
				results := chk.DiscoverAll(ctx, doms)
				if c.String("output") == "json" {
					return checker.WriteJSON(os.Stdout, results)
				}
				return checker.WriteDomainsTable(os.Stdout, results)
			})
		},
	}
}
