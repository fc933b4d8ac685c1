package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	toolkitweb "github.com/prometheus/exporter-toolkit/web"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/exporter/web"
	"github.com/vmcheck/vmcheck/settings"
)

func serveCommand() *cli.Command {
	flags := commonFlags("info", "text", false)
	flags = append(flags,
		&cli.DurationFlag{Name: "interval", Value: schedule.DefaultInterval, Usage: "time between rounds (a VM's metadata may lengthen its own interval)"},
	)
	flags = append(flags, roundFlags("rounds")...)
	flags = append(flags,
		&cli.StringSliceFlag{Name: "web.listen-address", Value: cli.NewStringSlice(":9921"), Usage: "`ADDRESS` to listen on for the status page and /metrics (repeatable)"},
		&cli.StringFlag{Name: "web.config.file", Usage: "exporter-toolkit web config `FILE` enabling TLS and/or basic auth"},
		&cli.BoolFlag{Name: "web.record-exchange", Value: true, Usage: "keep each VM's last agent exchange (sanitised) for the status page"},
		&cli.StringFlag{Name: "web.pages", DefaultText: "local, all with basic auth", Usage: "who may read the status pages and /api (they name every tenant's VMs): `local` (loopback clients), all, off; /metrics is always served"},
		&cli.StringSliceFlag{Name: "web.allowed-host", Usage: "`HOST` name the pages may be asked for, besides the node's name, the listen addresses, localhost and IP literals (repeatable; against DNS rebinding)"},
		&cli.IntFlag{Name: "web.max-connections", Value: web.DefaultMaxConnections, Usage: "connections open at once over all listeners (`N`); beyond it an idle one of the client address holding the most is closed"},
	)
	return &cli.Command{
		Name:   "serve",
		Usage:  "check in the background every --interval and serve the status page and Prometheus /metrics",
		Flags:  flags,
		Action: runServe,
	}
}

// runServe is the serve command: it validates the flags, then runs an
// web.Server until SIGTERM or SIGINT (exit 0) or until the web server
// fails.
func runServe(c *cli.Context) error {
	log, cfg, err := setup(c)
	if err != nil {
		return err
	}
	interval := c.Duration("interval")
	retry, err := roundTiming(c, interval, cfg)
	if err != nil {
		return err
	}
	webConfig := c.String("web.config.file")
	if err := toolkitweb.Validate(webConfig); err != nil {
		return usageError("--web.config.file %q: %v", webConfig, err)
	}
	access, err := pageAccess(c, webConfig)
	if err != nil {
		return err
	}
	if c.Int("web.max-connections") < 1 {
		return usageError("--web.max-connections %d: must be at least 1", c.Int("web.max-connections"))
	}
	warnNoExternal(log, cfg)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	startEvents(log)
	node, _ := os.Hostname()
	srv := &web.Server{
		Runner: &schedule.Runner{
			Connect:        func(ctx context.Context) (schedule.Conn, error) { return openSource(ctx, cfg) },
			Engine:         checker.New(cfg),
			History:        history.New(c.Int("down-after")),
			Interval:       interval,
			RetryInterval:  retry,
			RecordExchange: c.Bool("web.record-exchange"),
			Log:            log,
		},
		Listen:        c.StringSlice("web.listen-address"),
		WebConfigFile: webConfig,
		Limits:        web.Limits{MaxConnections: c.Int("web.max-connections")},
		Access:        access,
		Node:          node,
		Version:       version,
		Log:           log,
	}
	if err := srv.Run(ctx); err != nil {
		return exitError(err)
	}
	return nil
}

// pageRefusals are the answers of a refused page, naming the flags that
// decide.
var pageRefusals = web.Refusals{
	Off:      "the status pages are off (vmcheck serve --web.pages=off); /metrics is served",
	NotLocal: "the status pages answer only clients on this node; see --web.pages in vmcheck's docs/exporter.md",
	Host:     "the status pages are not served under this host name; add it with --web.allowed-host",
}

// pageAccess returns who may read the pages: --web.pages, else all when
// the web config sets basic auth users (the operator has chosen who may
// come in), else local.
func pageAccess(c *cli.Context, webConfig string) (web.PageAccess, error) {
	a := web.PageAccess{Pages: web.PagesLocal, Hosts: c.StringSlice("web.allowed-host"), Refusals: pageRefusals}
	if c.IsSet("web.pages") {
		p, err := web.ParsePages(c.String("web.pages"))
		if err != nil {
			return a, usageError("--web.pages: %v", err)
		}
		a.Pages = p
		return a, nil
	}
	users, err := web.WebConfigHasUsers(webConfig)
	if err != nil {
		return a, usageError("--web.config.file: %v", err)
	}
	if users {
		a.Pages = web.PagesAll
	}
	return a, nil
}

// startEvents starts the event loop of every backend that has one
// (settings.EventLoop: libvirt's), whichever the config selects, as it
// must run before the first connection; without it VMs that start wait
// for the next round.
func startEvents(log logrus.FieldLogger) {
	for _, b := range settings.Backends() {
		if l, ok := b.(settings.EventLoop); ok {
			if err := l.StartEvents(); err != nil {
				log.WithError(err).Warn("no " + b.Name() + " events; new VMs wait for the next round")
			}
		}
	}
}
