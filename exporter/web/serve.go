package web

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"
	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/internal/timing"
)

// DefaultShutdownTimeout bounds how long a stopping Server waits for open
// HTTP requests and, at the same time, for its Runner: the abandoned
// checks and the closing of the connection (itself bounded by the
// Runner's CloseTimeout), so a hung libvirtd cannot hang the exit.
const DefaultShutdownTimeout = 10 * time.Second

// Server is `vmcheck serve`: its Runner keeps the History fresh in the
// background while the status page and /metrics are served from it.
type Server struct {
	// Runner does the rounds; its History is what the pages show.
	Runner *schedule.Runner
	// Listen are the addresses to listen on; WebConfigFile, if set, is an
	// exporter-toolkit web config enabling TLS and/or basic auth.
	Listen        []string
	WebConfigFile string
	// Limits bound the web server's connections, over all listeners.
	Limits Limits
	// Access says who may read the pages and the JSON API; the node's
	// name and the listen addresses' host names are allowed Hosts too.
	Access PageAccess
	// Node names the host on the status page; Version is vmcheck's.
	Node, Version string
	// Log receives the web server's messages and the stopping ones.
	Log *logrus.Logger
	// ShutdownTimeout is DefaultShutdownTimeout if zero.
	ShutdownTimeout time.Duration
}

// Run serves until ctx ends (nil) or the web server fails (its error);
// either way it stops the Runner and the web server, waiting for them at
// most ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := s.httpServer()
	webErr := make(chan error, 1)
	go func() { webErr <- s.serveWeb(srv) }()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := s.Runner.Run(rctx); err != nil {
			s.Log.WithError(err).Error("runner stopped")
		}
	}()

	var failure error
	select {
	case <-ctx.Done():
		s.Log.Info("stopping: abandoning the checks in flight")
	case failure = <-webErr:
		stop()
	}
	s.shutdown(srv, runDone)
	return failure
}

// serveWeb listens on every address and serves srv there, with TLS and
// basic auth from the web config, and the connection cap of s.Limits.
func (s *Server) serveWeb(srv *http.Server) error {
	ls, err := listen(s.Listen)
	if err != nil {
		return err
	}
	cl := newConnLimiter(s.Limits.withDefaults().MaxConnections)
	for i, l := range ls {
		ls[i] = cl.wrap(l)
	}
	srv.ConnState = cl.ConnState
	s.Log.WithFields(logrus.Fields{"pages": string(cmp.Or(s.Access.Pages, PagesLocal)), "max_connections": cl.limit}).
		Info("status pages and /api for " + pagesWho[cmp.Or(s.Access.Pages, PagesLocal)] + "; /metrics for every client")
	listen := s.Listen
	return toolkitweb.ServeMultiple(ls, srv, &toolkitweb.FlagConfig{
		WebListenAddresses: &listen, WebSystemdSocket: new(bool), WebConfigFile: &s.WebConfigFile,
	}, slog.New(&slogToLogrus{log: s.Log}))
}

// pagesWho says who may read the pages, for the log.
var pagesWho = map[Pages]string{PagesLocal: "loopback clients only", PagesAll: "every client", PagesOff: "no client"}

// allowedHosts returns the Hosts the pages may be asked for: the
// operator's, the node's name and the host names of the listen addresses.
func (s *Server) allowedHosts() []string {
	hosts := append([]string{s.Node}, s.Access.Hosts...)
	for _, a := range s.Listen {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// httpServer returns the HTTP server of the status page and /metrics.
func (s *Server) httpServer() *http.Server {
	// vmcheck's own metrics go to the handler apart, which encodes them
	// once per change instead of once per scrape.
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	h := s.Runner.History
	access := s.Access
	access.Hosts = s.allowedHosts()
	srv := &http.Server{
		Handler: access.Handler(NewHandler(h, HandlerOpts{
			Collector: metrics.NewCollector(h, s.Version), Gatherer: reg, Node: s.Node, Version: s.Version,
			Refresh: max(timing.Or(s.Runner.Interval, schedule.DefaultInterval), 10*time.Second),
		})),
	}
	s.Limits.withDefaults().apply(srv)
	return srv
}

// shutdown stops the web server and waits for the runner (whose context
// has ended) to return, both at once and for at most ShutdownTimeout.
func (s *Server) shutdown(srv *http.Server, runDone <-chan struct{}) {
	timeout := timing.Or(s.ShutdownTimeout, DefaultShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	webDone := make(chan struct{})
	go func() {
		defer close(webDone)
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.WithError(err).Warn("stopping the web server")
		}
	}()
	select {
	case <-runDone:
	case <-sctx.Done():
		s.Log.WithField("timeout", timeout.String()).Warn("the checks or the libvirt connection did not stop in time (libvirtd hung?); exiting without them")
	}
	<-webDone
}

// slogToLogrus lets exporter-toolkit's slog messages reach the logrus
// logger configured by the command.
type slogToLogrus struct {
	log   *logrus.Logger
	attrs []slog.Attr
}

// Enabled reports whether the logger logs at l's level.
func (h *slogToLogrus) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.IsLevelEnabled(logrusLevel(l))
}

// Handle logs r with its attributes as fields.
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

// WithAttrs returns a handler adding attrs to every record.
func (h *slogToLogrus) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &slogToLogrus{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// WithGroup ignores groups: logrus fields are flat.
func (h *slogToLogrus) WithGroup(string) slog.Handler { return h }

// logrusLevel maps a slog level to logrus's.
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
