package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter"
)

func cronCommand() *cli.Command {
	flags := withFlagDefaults(commonFlags(), map[string]string{"log-level": "info", "log-format": "json"})
	flags = append(flags,
		&cli.StringFlag{Name: "textfile-dir", Required: true, Usage: "node_exporter textfile collector `DIR` to write the metrics file into"},
		&cli.StringFlag{Name: "textfile-name", Value: "vmcheck.prom", Usage: "metrics file `NAME` inside --textfile-dir (must end in .prom)"},
		&cli.StringFlag{Name: "state-file", Usage: "`FILE` keeping per-VM history (failure streaks, since when) between runs; empty: every run starts afresh"},
		&cli.IntFlag{Name: "down-after", Value: exporter.DefaultDownAfter, Usage: "consecutive failed runs before a VM is reported degraded or down (`N`)"},
	)
	return &cli.Command{
		Name:  "cron",
		Usage: "one round, then write a node_exporter textfile and one JSON log line per VM (exit codes as check)",
		Flags: flags,
		Action: func(c *cli.Context) error {
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
			if c.Int("down-after") < 1 {
				return usageError("--down-after: must be at least 1, got %d", c.Int("down-after"))
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()

			h := exporter.NewHistory(c.Int("down-after"))
			stateFile := c.String("state-file")
			if stateFile != "" {
				loadState(log, h, stateFile)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(exporter.NewCollector(h, version))
			writeMetrics := func() error {
				if err := exporter.WriteTextfile(dir, name, reg); err != nil {
					return exitError(err)
				}
				return nil
			}
			// failed writes vmcheck_libvirt_up 0 (and no VM series), then
			// returns err.
			failed := func(err error) error {
				h.SetLibvirtUp(false)
				if werr := writeMetrics(); werr != nil {
					log.WithError(werr).Error("cannot write the textfile")
				}
				return exitError(err)
			}

			start := time.Now()
			src, err := openSource(ctx, cfg)
			if err != nil {
				return failed(err)
			}
			defer src.Close()
			chk := checker.New(cfg)
			doms, err := chk.Select(ctx, src)
			if err != nil {
				return failed(err)
			}
			h.SetLibvirtUp(true)
			results := chk.CheckAll(ctx, doms)
			if ctx.Err() != nil {
				// Interrupted: the previous textfile stays, and goes stale.
				return cli.Exit("interrupted; textfile not updated", checker.ExitError)
			}
			h.SetRound(exporter.Round{Start: start, Duration: time.Since(start), Domains: len(results)})

			byUUID := make(map[string]checker.Domain, len(doms))
			keep := make(map[string]bool, len(doms))
			for _, d := range doms {
				byUUID[d.UUID] = d
				keep[d.UUID] = true
			}
			h.Retain(keep)
			for _, r := range results {
				_, e := h.Record(byUUID[r.UUID], r, nil)
				logVM(log, e)
			}
			if err := writeMetrics(); err != nil {
				return err
			}
			if stateFile != "" {
				saveState(log, h, stateFile)
			}
			if code := checker.ExitCode(results); code != 0 {
				return cli.Exit("", code)
			}
			return nil
		},
	}
}

// logVM writes the one structured line per VM that cron mode promises:
// info when the VM is ok or paused, warning otherwise.
func logVM(log *logrus.Logger, e exporter.Entry) {
	f := resultFields(e.Result)
	f["verdict"] = f["state"]
	f["state"] = string(e.State)
	f["since"] = e.Since.UTC().Format(time.RFC3339)
	f["consecutive_failures"] = e.ConsecutiveFailures
	for _, p := range e.Result.Probes {
		key := fmt.Sprintf("probe_%s_%s", p.Kind, p.Target)
		if p.Kind == checker.ProbeGateway && p.NIC != "" {
			key += "_" + p.NIC
		}
		v := string(p.Status)
		if p.Status == checker.ProbePassed && p.RTT > 0 {
			v = fmt.Sprintf("ok %.1fms", p.RTT*1000)
		}
		f[key] = v
	}
	entry := log.WithFields(f)
	switch e.State {
	case checker.StateOK, checker.StatePaused:
		entry.Info("vm checked")
	default:
		entry.Warn("vm checked")
	}
}

func loadState(log *logrus.Logger, h *exporter.History, file string) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		log.WithError(err).Warn("cannot read the state file; starting without history")
		return
	}
	defer f.Close()
	if err := h.Load(f); err != nil {
		log.WithError(err).WithField("file", file).Warn("ignoring the state file; starting without history")
	}
}

func saveState(log *logrus.Logger, h *exporter.History, file string) {
	var buf bytes.Buffer
	if err := h.Save(&buf); err != nil {
		log.WithError(err).Warn("cannot save the state file")
		return
	}
	if err := exporter.WriteFileAtomic(file, buf.Bytes()); err != nil {
		log.WithError(err).Warn("cannot save the state file")
	}
}

// withFlagDefaults changes the default value of named string flags and
// hides --output, which the long-running and cron commands do not use.
func withFlagDefaults(flags []cli.Flag, defaults map[string]string) []cli.Flag {
	for _, f := range flags {
		sf, ok := f.(*cli.StringFlag)
		if !ok {
			continue
		}
		if v, ok := defaults[sf.Name]; ok {
			sf.Value = v
		}
		if sf.Name == "output" {
			sf.Hidden = true
		}
	}
	return flags
}
