package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/cron"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/output"
)

func cronCommand() *cli.Command {
	flags := commonFlags("info", "json", false)
	flags = append(flags,
		&cli.StringFlag{Name: "textfile-dir", Usage: "node_exporter textfile collector `DIR` to write the metrics file into (required)"},
		&cli.StringFlag{Name: "textfile-name", Value: "vmcheck.prom", Usage: "metrics file `NAME` inside --textfile-dir (must end in .prom)"},
		&cli.StringFlag{Name: "state-file", Usage: "`FILE` keeping per-VM history (failure streaks, since when) between runs; empty: every run starts afresh"},
	)
	flags = append(flags, roundFlags("runs")...)
	return &cli.Command{
		Name:   "cron",
		Usage:  "one round, then write a node_exporter textfile and one JSON log line per VM (exit codes as check)",
		Flags:  flags,
		Action: runCron,
	}
}

// runCron is the cron command: it checks the flags and runs one
// cron.Job round; the exit code is check's.
func runCron(c *cli.Context) error {
	log, cfg, err := setup(c)
	if err != nil {
		return err
	}
	if c.String("textfile-dir") == "" {
		return usageError("--textfile-dir: required: the node_exporter textfile collector's directory, e.g. /var/lib/prometheus/node-exporter")
	}
	retry, err := roundTiming(c, 0, cfg)
	if err != nil {
		return err
	}
	round := &cron.Job{
		Open:          func(ctx context.Context) (schedule.Conn, error) { return openSource(ctx, cfg) },
		Engine:        checker.New(cfg),
		History:       history.New(c.Int("down-after")),
		TextfileDir:   c.String("textfile-dir"),
		TextfileName:  c.String("textfile-name"),
		StateFile:     c.String("state-file"),
		Version:       version,
		Log:           log,
		RetryInterval: retry, Timeout: time.Duration(cfg.Timeout),
	}
	if err := round.Prepare(); err != nil {
		return optionError(err)
	}
	if err := writable("--textfile-dir", round.TextfileDir, round.TextfileName); err != nil {
		return err
	}
	if round.StateFile != "" {
		if err := writable("--state-file", filepath.Dir(round.StateFile), filepath.Base(round.StateFile)); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := round.Run(ctx)
	if err != nil {
		// In the log's format (JSON for cron), as the VMs' lines are.
		log.WithError(err).Error("round failed")
		return cli.Exit("", output.ExitError)
	}
	return exitCode(results)
}

// writable checks, before the round, that cron can replace the file name
// in dir as it will: a temporary file created in dir, then renamed over
// name, which must not be a directory. Its error names the flag and the
// path, with exit code 3.
func writable(flag, dir, name string) error {
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usageError("%s: %s is a directory", flag, path)
	}
	f, err := os.CreateTemp(dir, "."+name+".check-*")
	if err != nil {
		return usageError("%s: cannot write %s: creating a file in %s: %v", flag, path, dir, errors.Unwrap(err))
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return usageError("%s: cannot write %s: %v", flag, path, err)
	}
	return nil
}
