package exportertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/settings"
)

// FakeHost is a hypervisor whose domains, events and connection state a
// test controls.
type FakeHost struct {
	// Mu guards Doms, Refuse and Connects.
	Mu sync.Mutex
	// Doms are the running domains.
	Doms []model.Domain
	// Events go to the watcher of the current connection.
	Events chan model.Event
	// Broken, closed, breaks the current connection.
	Broken chan struct{}
	// Refuse makes Connect fail.
	Refuse bool
	// Connects counts the calls of Connect.
	Connects int
	// CloseHang, when set, makes Close block until it is closed, as with
	// a hung libvirtd.
	CloseHang chan struct{}
}

// NewFakeHost returns a host running the domains names (UUIDOf each).
func NewFakeHost(names ...string) *FakeHost {
	h := &FakeHost{Events: make(chan model.Event, 16), Broken: make(chan struct{})}
	for _, n := range names {
		h.Add(n)
	}
	return h
}

// UUIDOf is the UUID of the FakeHost domain name.
func UUIDOf(name string) string {
	var sum int
	for _, c := range name {
		sum = sum*31 + int(c)
	}
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", sum&0xffffffffffff)
}

// Add starts a domain name.
func (h *FakeHost) Add(name string) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Doms = append(h.Doms, model.Domain{Name: name, UUID: UUIDOf(name), State: model.Running, BootID: name})
}

// Remove stops the domain name.
func (h *FakeHost) Remove(name string) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	for i, d := range h.Doms {
		if d.Name == name {
			h.Doms = append(h.Doms[:i], h.Doms[i+1:]...)
			return
		}
	}
}

// Connect opens a connection, unless Refuse is set.
func (h *FakeHost) Connect(context.Context) (*FakeConn, error) {
	h.Mu.Lock()
	defer h.Mu.Unlock()
	h.Connects++
	if h.Refuse {
		return nil, errors.New("connection refused")
	}
	return &FakeConn{h: h, broken: h.Broken, hang: h.CloseHang}, nil
}

// FakeConn is a connection to a FakeHost.
type FakeConn struct {
	h      *FakeHost
	broken chan struct{}
	hang   chan struct{}
}

// Domains lists the host's domains, unless the connection is broken.
func (c *FakeConn) Domains(context.Context) ([]model.Domain, error) {
	select {
	case <-c.broken:
		return nil, errors.New("connection is broken")
	default:
	}
	c.h.Mu.Lock()
	defer c.h.Mu.Unlock()
	return append([]model.Domain(nil), c.h.Doms...), nil
}

// Watch passes the host's Events to fn until ctx ends (nil) or the
// connection breaks (model.ErrConnectionClosed).
func (c *FakeConn) Watch(ctx context.Context, fn func(model.Event)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.broken:
			return fmt.Errorf("fake: %w", model.ErrConnectionClosed)
		case ev := <-c.h.Events:
			fn(ev)
		}
	}
}

// Close closes the connection, blocking while CloseHang is open.
func (c *FakeConn) Close() error {
	if c.hang != nil {
		<-c.hang
	}
	return nil
}

// FakeEngine checks a domain by asking Verdict; a domain named "hang"
// blocks until its context ends.
type FakeEngine struct {
	mu sync.Mutex
	// Verdict is each domain's state by name (ok if absent); set it
	// before the engine is used, or under no check in flight.
	Verdict map[string]model.State
	checks  map[string]int
}

// Select lists every domain of src.
func (e *FakeEngine) Select(ctx context.Context, src model.Source) ([]model.Domain, error) {
	return src.Domains(ctx)
}

// Check returns d's Verdict, checked now, and counts the check.
func (e *FakeEngine) Check(ctx context.Context, d model.Domain) model.Result {
	e.mu.Lock()
	e.checks[d.Name]++
	v := e.Verdict[d.Name]
	e.mu.Unlock()
	if d.Name == "hang" {
		<-ctx.Done()
		return model.Result{Name: d.Name, UUID: d.UUID, State: model.StateUnknown, CheckedAt: time.Now(), Reason: "deadline"}
	}
	if v == "" {
		v = model.StateOK
	}
	return model.Result{Name: d.Name, UUID: d.UUID, State: v, CheckedAt: time.Now()}
}

// Forget does nothing: the engine keeps no per-boot cache.
func (e *FakeEngine) Forget(map[string]bool) {}

// Config is a config of 4 checks at once, each within a minute.
func (e *FakeEngine) Config() settings.Config {
	return settings.Config{Concurrency: 4, Timeout: config.Duration(time.Minute)}
}

// Count returns how many times the domain name was checked.
func (e *FakeEngine) Count(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checks[name]
}

// NewFakeEngine returns an engine that finds every domain ok.
func NewFakeEngine() *FakeEngine {
	return &FakeEngine{Verdict: map[string]model.State{}, checks: map[string]int{}}
}

// Eventually polls cond for up to 5 s.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Known reports whether h has an entry for the FakeHost domain name.
func Known(h *history.History, name string) bool {
	_, ok := h.Snapshot().Lookup(UUIDOf(name))
	return ok
}

// ConnectFunc returns h.Connect as the connect function of a Runner or a
// Cron, whose connection type is C (schedule.Conn).
func ConnectFunc[C any](h *FakeHost) func(context.Context) (C, error) {
	return func(ctx context.Context) (C, error) {
		c, err := h.Connect(ctx)
		if err != nil {
			var none C
			return none, err
		}
		return any(c).(C), nil
	}
}
