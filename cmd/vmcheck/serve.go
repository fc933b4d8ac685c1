package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter"
)

// shutdownTimeout bounds how long serve waits, once stopped, for open HTTP
// requests and, at the same time, for the runner: its abandoned checks and
// the closing of its libvirt connection (itself bounded by the runner's
// CloseTimeout), so a hung libvirtd cannot hang the exit.
const shutdownTimeout = 10 * time.Second

func serveCommand() *cli.Command {
	flags := withFlagDefaults(commonFlags(), map[string]string{"log-level": "info"})
	flags = append(flags,
		&cli.DurationFlag{Name: "interval", Value: exporter.DefaultInterval, Usage: "time between rounds (a VM's metadata may lengthen its own interval)"},
		&cli.IntFlag{Name: "down-after", Value: exporter.DefaultDownAfter, Usage: "consecutive failed rounds before a VM is reported degraded or down (`N`)"},
		&cli.StringSliceFlag{Name: "web.listen-address", Value: cli.NewStringSlice(":9921"), Usage: "`ADDRESS` to listen on for the status page and /metrics (repeatable)"},
		&cli.StringFlag{Name: "web.config.file", Usage: "exporter-toolkit web config `FILE` enabling TLS and/or basic auth"},
		&cli.BoolFlag{Name: "web.record-exchange", Value: true, Usage: "keep each VM's last agent exchange (sanitised) for the status page"},
	)
	return &cli.Command{
		Name:   "serve",
		Usage:  "check in the background every --interval and serve the status page and Prometheus /metrics",
		Flags:  flags,
		Action: runServe,
	}
}

// runServe is the serve command: it validates the flags, then serves until
// SIGTERM or SIGINT (exit 0) or until the web server fails.
func runServe(c *cli.Context) error {
	log, cfg, err := setup(c)
	if err != nil {
		return err
	}
	interval := c.Duration("interval")
	if interval < time.Second {
		return usageError("--interval: must be at least 1s, got %s", interval)
	}
	if err := checkDownAfter(c); err != nil {
		return err
	}
	webConfig := c.String("web.config.file")
	if err := web.Validate(webConfig); err != nil {
		return usageError("--web.config.file %q: %v", webConfig, err)
	}
	if len(cfg.External) == 0 {
		log.Warn("no external target configured (--external or external: in the config); external probes are reported as not_configured")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := startEventLoop(); err != nil {
		log.WithError(err).Warn("no libvirt events; new VMs wait for the next round")
	}

	h := exporter.NewHistory(c.Int("down-after"))
	srv := newServer(h, log, interval)
	runner := &exporter.Runner{
		Connect: func(ctx context.Context) (exporter.Conn, error) {
			return openSource(ctx, cfg)
		},
		Engine:         checker.New(cfg),
		History:        h,
		Interval:       interval,
		RecordExchange: c.Bool("web.record-exchange"),
		Log:            log,
		CloseTimeout:   exporter.DefaultCloseTimeout,
	}

	listen := c.StringSlice("web.listen-address")
	webErr := make(chan error, 1)
	go func() {
		webErr <- web.ListenAndServe(srv, &web.FlagConfig{
			WebListenAddresses: &listen, WebSystemdSocket: new(bool), WebConfigFile: &webConfig,
		}, slog.New(&slogToLogrus{log: log}))
	}()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := runner.Run(ctx); err != nil {
			log.WithError(err).Error("runner stopped")
		}
	}()

	var failure error
	select {
	case <-ctx.Done():
		log.Info("stopping: abandoning the checks in flight")
	case err := <-webErr:
		failure = exitError(err)
		stop()
	}
	shutdown(log, srv, runDone)
	return failure
}

// newServer returns the HTTP server of the status page and /metrics.
func newServer(h *exporter.History, log *logrus.Logger, interval time.Duration) *http.Server {
	// vmcheck's own metrics go to the handler apart, which encodes them
	// once per change instead of once per scrape.
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	node, _ := os.Hostname()
	return &http.Server{
		Handler: exporter.NewHandler(h, exporter.HandlerOpts{
			Collector: exporter.NewCollector(h, version), Gatherer: reg, Node: node, Version: version, Refresh: max(interval, 10*time.Second),
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// shutdown stops the web server and waits for the runner (whose context
// has ended) to return, both at once and for at most shutdownTimeout.
func shutdown(log *logrus.Logger, srv *http.Server, runDone <-chan struct{}) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	webDone := make(chan struct{})
	go func() {
		defer close(webDone)
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Warn("stopping the web server")
		}
	}()
	select {
	case <-runDone:
	case <-sctx.Done():
		log.WithField("timeout", shutdownTimeout.String()).Warn("the checks or the libvirt connection did not stop in time (libvirtd hung?); exiting without them")
	}
	<-webDone
}

// slogToLogrus lets exporter-toolkit's slog messages reach the logrus
// logger configured by the command.
type slogToLogrus struct {
	log   *logrus.Logger
	attrs []slog.Attr
}

func (h *slogToLogrus) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.IsLevelEnabled(logrusLevel(l))
}

func (h *slogToLogrus) Handle(_ context.Context, r slog.Record) error {
	f := logrus.Fields{}
	for _, a := range h.attrs {
		f[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		f[a.Key] = a.Value.Any()
		return true
	})
	h.log.WithFields(f).Log(logrusLevel(r.Level), r.Message)
	return nil
}

func (h *slogToLogrus) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &slogToLogrus{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *slogToLogrus) WithGroup(string) slog.Handler { return h }

func logrusLevel(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.ErrorLevel
	case l >= slog.LevelWarn:
		return logrus.WarnLevel
	case l >= slog.LevelInfo:
		return logrus.InfoLevel
	}
	return logrus.DebugLevel
}
