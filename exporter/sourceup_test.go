package exporter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/qemuhost"
)

// TestSourceUpMetrics: vmcheck_source_up{backend} reports the connection
// of the backend SetSourceUp named, and vmcheck_libvirt_up keeps the same
// value on every backend.
func TestSourceUpMetrics(t *testing.T) {
	tests := []struct {
		name   string
		set    func(h *History)
		want   []string
		absent []string
	}{
		{"libvirt up", func(h *History) { h.SetSourceUp(libvirthost.Name, true) },
			[]string{`vmcheck_source_up{backend="libvirt"} 1`, "vmcheck_libvirt_up 1"}, nil},
		{"qemu down", func(h *History) { h.SetSourceUp(qemuhost.Name, false) },
			[]string{`vmcheck_source_up{backend="qemu"} 0`, "vmcheck_libvirt_up 0"}, nil},
		{"qemu up", func(h *History) { h.SetSourceUp(qemuhost.Name, true) },
			[]string{`vmcheck_source_up{backend="qemu"} 1`, "vmcheck_libvirt_up 1"}, []string{`backend="libvirt"`}},
		{"SetLibvirtUp keeps the backend", func(h *History) { h.SetSourceUp(qemuhost.Name, false); h.SetLibvirtUp(true) },
			[]string{`vmcheck_source_up{backend="qemu"} 1`, "vmcheck_libvirt_up 1"}, nil},
		{"no backend named", func(h *History) { h.SetLibvirtUp(true) },
			[]string{"vmcheck_libvirt_up 1"}, []string{"vmcheck_source_up{"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(3)
			tt.set(h)
			got := string(gatherText(t, testCollector(h)))
			for _, w := range tt.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("metrics lack %q:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("metrics hold %q:\n%s", a, got)
				}
			}
		})
	}
}

// qemuEngine is a fakeEngine whose config selects the QEMU backend.
type qemuEngine struct{ *fakeEngine }

func (e qemuEngine) Config() checker.Config {
	cfg := e.fakeEngine.Config()
	cfg.Sections = qemuhost.Section.Set(cfg.Sections, qemuhost.Settings{Dir: "/var/run/qemu-server"})
	return cfg
}

// TestRunnerSourceBackend: the Runner names the backend its engine's config
// selects, also before its first connection succeeds.
func TestRunnerSourceBackend(t *testing.T) {
	hist := NewHistory(3)
	r := &Runner{
		Connect:    func(context.Context) (Conn, error) { return nil, errors.New("qmp socket refused") },
		Engine:     qemuEngine{newFakeEngine()},
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
