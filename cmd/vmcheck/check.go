package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/settings"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "ping the external target and every gateway from inside each running VM, one round",
		Flags: commonFlags("warn", "text", true),
		Action: func(c *cli.Context) error {
			return withSource(c, func(ctx context.Context, log *logrus.Logger, cfg settings.Config, src hostSource) error {
				warnNoExternal(log, cfg)
				chk := checker.New(cfg)
				doms, _, err := selectDomains(ctx, c, chk, src)
				if err != nil {
					return err
				}
				results := chk.CheckAll(ctx, doms)
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
func warnNoExternal(log *logrus.Logger, cfg settings.Config) {
	if len(cfg.External) == 0 {
		log.Warn("no external target configured (--external or external: in the config); external probes are reported as not_configured")
	}
}

// exitCode turns the results into the Nagios exit code, without a message.
func exitCode(results []model.Result) error {
	if code := output.ExitCode(results); code != output.ExitOK {
		return cli.Exit("", code)
	}
	return nil
}

// selectDomains lists the domains the round checks, and those opt-in
// mode skipped. A domain named by --domain (or the config's domains:)
// that is not running or not found is exit 3 naming it, and a round with
// nothing to check says so on stderr.
func selectDomains(ctx context.Context, c *cli.Context, chk *checker.Checker, src hostSource) (doms, skipped []model.Domain, err error) {
	doms, skipped, err = chk.SelectNamed(ctx, src)
	var nf *checker.NotFoundError
	switch {
	case errors.As(err, &nf) && c.IsSet("domain"):
		return nil, nil, usageError("--domain: %v", err)
	case errors.As(err, &nf):
		return nil, nil, usageError("config %s: domains: %v", configFile(c), err)
	case err != nil:
		return nil, nil, exitError(err)
	}
	if len(doms) == 0 {
		cfg := chk.Config()
		why := "no running or paused domain"
		switch {
		case len(skipped) > 0:
			why = fmt.Sprintf("%d domain(s) skipped by opt-in, none consents", len(skipped))
		case len(cfg.Domains) > 0 || len(cfg.Exclude) > 0 || len(cfg.Policies) > 0:
			why = "no running or paused domain is selected (--domain, --exclude, a policy's enabled: false)"
		}
		fmt.Fprintf(stderr, "vmcheck: no VM checked: %s\n", why)
	}
	return doms, skipped, nil
}
