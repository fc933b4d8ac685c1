package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
)

func domainsCommand() *cli.Command {
	return &cli.Command{
		Name:  "domains",
		Usage: "show discovery only: domains, NICs, addresses, gateways and their sources, agent state (no ping)",
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			_, cfg, err := setup(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			src, err := openSource(ctx, cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			chk := checker.New(cfg)
			doms, err := chk.Select(ctx, src)
			if err != nil {
				return exitError(err)
			}
			results := chk.DiscoverAll(ctx, doms)
			if c.String("output") == "json" {
				return checker.WriteJSON(os.Stdout, results)
			}
			return writeDomainsTable(results)
		},
	}
}

func writeDomainsTable(results []checker.Result) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tAGENT\tOS\tMAC\tDEVICE\tSOURCE\tIPS\tGATEWAY\tGATEWAY SOURCE\tTYPE")
	for _, r := range results {
		agent := string(r.Agent.State)
		if r.State == checker.StatePaused {
			agent = "paused"
		}
		osName := r.OS.Family
		if r.OS.ID != "" {
			osName += "/" + r.OS.ID
		}
		if len(r.NICs) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", r.Name, dash(agent), osName)
		}
		for _, n := range r.NICs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(agent), osName, n.MAC, dash(n.Device),
				dash(strings.Trim(n.SourceType+":"+n.Source, ":")), dash(strings.Join(n.IPs, ",")), dash(n.Gateway), dash(n.GatewaySource), n.NetworkType)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
