package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/output"
)

func domainsCommand() *cli.Command {
	return &cli.Command{
		Name:  "domains",
		Usage: "show discovery only: domains, NICs, addresses, gateways and their sources, agent state (no ping)",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, _ *logrus.Logger, cfg checker.Config, src hostSource) error {
				chk := checker.New(cfg)
				doms, skipped, err := chk.SelectWithSkipped(ctx, src)
				if err != nil {
					return exitError(err)
				}
				results := chk.DiscoverAll(ctx, doms)
				if c.String("output") == "json" {
					err = output.WriteJSON(os.Stdout, results)
				} else {
					err = output.WriteDomainsTable(os.Stdout, results)
				}
				writeSkipped(os.Stderr, cfg.QEMU(), skipped)
				return err
			})
		},
	}
}

// writeSkipped names, one line each, the domains opt-in mode skipped for
// want of consent. They are not checked, so they are not in the report on
// stdout; stderr tells the operator they exist and why.
func writeSkipped(w io.Writer, qemu bool, skipped []checker.Domain) {
	for _, d := range skipped {
		why := `its metadata has no <vmcheck:check enabled="true"/>`
		switch {
		case qemu:
			why = "no config policy with enabled: true matches it"
		case d.Policy.Error != "":
			why = d.Policy.Error
		}
		fmt.Fprintf(w, "skipped %s (%s): not opted in: %s\n",
			guestagent.Sanitize(d.Name, 256), guestagent.Sanitize(d.UUID, 64), guestagent.Sanitize(why, 300))
	}
}
