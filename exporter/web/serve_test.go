package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/schedule"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs a Server over a fake host. stop ends its context
// (unless cancel is false) and returns Run's error.
func startServer(t *testing.T, listen string) (stop func(cancel bool) error, hist *history.History) {
	t.Helper()
	log, _ := logtest.NewNullLogger()
	hist = history.New(3)
	srv := &Server{
		Runner: &schedule.Runner{Connect: exportertest.ConnectFunc[schedule.Conn](exportertest.NewFakeHost("a")), Engine: exportertest.NewFakeEngine(), History: hist, Interval: time.Hour},
		Listen: []string{listen}, Node: "node7", Version: "1.2.3", Log: log,
	}
	ctx, cancelCtx := context.WithCancel(context.Background())
	t.Cleanup(cancelCtx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return func(cancel bool) error {
		if cancel {
			cancelCtx()
		}
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}, hist
}

func TestServerServesAndStops(t *testing.T) {
	addr := freeAddr(t)
	stop, hist := startServer(t, addr)
	exportertest.Eventually(t, "the first round", func() bool { return exportertest.Known(hist, "a") })
	var body string
	exportertest.Eventually(t, "/metrics with the VM", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `vmcheck_domain_state{domain="a",state="ok"`)
	})
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `vmcheck_build_info{goversion=`) {
		t.Errorf("/metrics lacks the Go or build metrics:\n%s", body)
	}
	if err := stop(true); err != nil {
		t.Errorf("Run after its context ended = %v, want nil", err)
	}
}

func TestServerListenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Run returns without its context ending, within stop's 5 s: it has
	// stopped the Runner (waiting for one that goes on would take the 10 s
	// of DefaultShutdownTimeout).
	stop, _ := startServer(t, l.Addr().String()) // the address is taken
	if err := stop(false); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a taken address = %v, want the listen error", err)
	}
}

func TestSlogToLogrus(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.InfoLevel)
	l := slog.New(&slogToLogrus{log: log}).With("address", ":9921")
	tests := []struct {
		level slog.Level
		want  logrus.Level
		kept  bool
	}{
		{slog.LevelDebug, logrus.DebugLevel, false},
		{slog.LevelInfo, logrus.InfoLevel, true},
		{slog.LevelWarn, logrus.WarnLevel, true},
		{slog.LevelError, logrus.ErrorLevel, true},
	}
	for _, tt := range tests {
		hook.Reset()
		l.Log(context.Background(), tt.level, "listening", "tls", false)
		e := hook.LastEntry()
		if !tt.kept {
			if e != nil {
				t.Errorf("%s: logged below the logger's level", tt.level)
			}
			continue
		}
		if e == nil || e.Level != tt.want || e.Message != "listening" || e.Data["address"] != ":9921" || e.Data["tls"] != false {
			t.Errorf("%s: logged %+v, want %s with the address and tls fields", tt.level, e, tt.want)
		}
	}
}
