package schedule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/qemuhost"
	"github.com/vmcheck/vmcheck/settings"
)

type qemuEngine struct{ *exportertest.FakeEngine }

func (e qemuEngine) Config() settings.Config {
	cfg := e.FakeEngine.Config()
	cfg.Sections = qemuhost.Section.Set(cfg.Sections, qemuhost.Settings{Dir: "/var/run/qemu-server"})
	return cfg
}

// TestRunnerSourceBackend: the Runner names the backend its engine's config
// selects, also before its first connection succeeds.
func TestRunnerSourceBackend(t *testing.T) {
	hist := history.New(3)
	r := &Runner{
		Connect:    func(context.Context) (Conn, error) { return nil, errors.New("qmp socket refused") },
		Engine:     qemuEngine{exportertest.NewFakeEngine()},
		History:    hist,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for hist.Snapshot().Backend == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if s := hist.Snapshot(); s.Backend != qemuhost.Name || s.LibvirtUp {
		t.Errorf("after a refused connection: backend %q, up %v; want %q, false", s.Backend, s.LibvirtUp, qemuhost.Name)
	}
}
