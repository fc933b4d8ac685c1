package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter"
)

func cronCommand() *cli.Command {
	flags := commonFlags("info", "json", false)
	flags = append(flags,
		&cli.StringFlag{Name: "textfile-dir", Required: true, Usage: "node_exporter textfile collector `DIR` to write the metrics file into"},
		&cli.StringFlag{Name: "textfile-name", Value: "vmcheck.prom", Usage: "metrics file `NAME` inside --textfile-dir (must end in .prom)"},
		&cli.StringFlag{Name: "state-file", Usage: "`FILE` keeping per-VM history (failure streaks, since when) between runs; empty: every run starts afresh"},
		&cli.DurationFlag{Name: "retry-interval", Value: exporter.DefaultRetryInterval, Usage: "time between the checks of a VM whose probes failed fewer than --down-after times in a row (a VM's policy retry_interval overrides it)"},
		&cli.IntFlag{Name: "down-after", Value: exporter.DefaultDownAfter, Usage: "consecutive failed runs before a VM is reported degraded or down (`N`)"},
	)
	return &cli.Command{
		Name:   "cron",
		Usage:  "one round, then write a node_exporter textfile and one JSON log line per VM (exit codes as check)",
		Flags:  flags,
		Action: runCron,
	}
}

// runCron is the cron command: it checks the flags and runs one
// exporter.Cron round; the exit code is check's.
func runCron(c *cli.Context) error {
	log, cfg, err := setup(c)
	if err != nil {
		return err
	}
	retry, err := exporter.CheckTiming(0, c.Int("down-after"), c.Duration("retry-interval"), c.IsSet("retry-interval"), cfg)
	if err != nil {
		return usageError("%v", err)
	}
	round := &exporter.Cron{
		Open:          func(ctx context.Context) (exporter.Conn, error) { return openSource(ctx, cfg) },
		Engine:        checker.New(cfg),
		History:       exporter.NewHistory(c.Int("down-after")),
		TextfileDir:   c.String("textfile-dir"),
		TextfileName:  c.String("textfile-name"),
		StateFile:     c.String("state-file"),
		Version:       version,
		Log:           log,
		RetryInterval: retry, Timeout: time.Duration(cfg.Timeout),
	}
	if err := round.Prepare(); err != nil {
		return usageError("%v", err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := round.Run(ctx)
	if err != nil {
		return exitError(err)
	}
	return exitCode(results)
}
