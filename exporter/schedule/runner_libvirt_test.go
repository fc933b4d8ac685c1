//go:build cgo

package schedule

import (
	"context"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// TestRunnerLibvirtEvents runs the Runner on libvirt's test driver, whose
// "test:///default" state every connection of this process shares: a VM
// started elsewhere is checked at once (the round interval is an hour),
// and one destroyed loses its entry.
func TestRunnerLibvirtEvents(t *testing.T) {
	if err := libvirthost.StartEventLoop(); err != nil {
		t.Fatal(err)
	}
	hist := history.New(3)
	r := &Runner{
		Connect: func(ctx context.Context) (Conn, error) {
			src, err := libvirthost.New(ctx, "test:///default", 2)
			if err != nil {
				return nil, err
			}
			return src, nil
		},
		Engine:   checker.New(settings.Config{}),
		History:  hist,
		Interval: time.Hour,
		Settle:   50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop")
		}
	}()
	byName := func(name string) bool {
		for _, e := range hist.Snapshot().Entries {
			if e.Result.Name == name {
				return true
			}
		}
		return false
	}
	exportertest.Eventually(t, "the first round", func() bool { return byName("test") && hist.Snapshot().LibvirtUp })

	admin, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	dom, err := admin.DomainCreateXML(`<domain type='test'><name>vmcheck-new</name><memory>65536</memory><os><type>hvm</type></os></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	exportertest.Eventually(t, "the new VM to be checked", func() bool { return byName("vmcheck-new") })
	e, _ := hist.Snapshot().Lookup(mustUUID(t, dom))
	if e.State != model.StateUnknown || e.Result.Agent.State != model.AgentNoChannel {
		t.Errorf("vmcheck-new: %s / agent %s, want unknown / no_channel", e.State, e.Result.Agent.State)
	}
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	exportertest.Eventually(t, "the destroyed VM to be forgotten", func() bool { return !byName("vmcheck-new") })
	if !byName("test") {
		t.Errorf("the other VM must stay")
	}
}

func mustUUID(t *testing.T, d *libvirt.Domain) string {
	t.Helper()
	u, err := d.GetUUIDString()
	if err != nil {
		t.Fatal(err)
	}
	return u
}
