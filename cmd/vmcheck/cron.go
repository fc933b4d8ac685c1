package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

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
	dir, name := c.String("textfile-dir"), c.String("textfile-name")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usageError("--textfile-dir %q: not a directory", dir)
	}
	if filepath.Ext(name) != ".prom" || filepath.Base(name) != name {
		return usageError("--textfile-name %q: must be a file name ending in .prom", name)
	}
	if err := checkDownAfter(c); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	round := &exporter.Cron{
		Open:         func(ctx context.Context) (exporter.Conn, error) { return openSource(ctx, cfg) },
		Engine:       checker.New(cfg),
		History:      exporter.NewHistory(c.Int("down-after")),
		TextfileDir:  dir,
		TextfileName: name,
		StateFile:    c.String("state-file"),
		Version:      version,
		Log:          log,
	}
	results, err := round.Run(ctx)
	if err != nil {
		return exitError(err)
	}
	return exitCode(results)
}
