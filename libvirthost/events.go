//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/model"
)

var (
	eventLoopOnce sync.Once
	eventLoopErr  error
)

// Backoff of the event loop after a failed iteration.
const (
	eventLoopMinBackoff = 10 * time.Millisecond
	eventLoopMaxBackoff = 5 * time.Second
)

// StartEventLoop registers libvirt's default event loop implementation and
// runs it in a goroutine for the life of the process. Call it before the
// first New whose events you want (libvirt binds a connection
// to the event loop when the connection opens); later calls do nothing and
// return the first call's error.
func StartEventLoop() error {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoopErr = fmt.Errorf("registering the libvirt event loop: %w", err)
			return
		}
		go runEventLoop(libvirt.EventRunDefaultImpl, time.Sleep)
	})
	return eventLoopErr
}

// runEventLoop calls iterate forever. An iteration error is usually
// transient (a poll interrupted) and the loop must keep running for
// callbacks to fire; but one that fails at once every time must not spin
// a CPU, so failures back off exponentially, from eventLoopMinBackoff up
// to eventLoopMaxBackoff, until an iteration succeeds.
func runEventLoop(iterate func() error, sleep func(time.Duration)) {
	b := loopBackoff{min: eventLoopMinBackoff, max: eventLoopMaxBackoff}
	for {
		if d := b.after(iterate()); d > 0 {
			sleep(d)
		}
	}
}

// loopBackoff is the wait after each iteration of a loop: none after a
// success, which also resets it; after a failure, min, doubling with each
// further failure in a row up to max.
type loopBackoff struct {
	min, max, cur time.Duration
}

// after returns how long to wait after an iteration that returned err.
func (b *loopBackoff) after(err error) time.Duration {
	if err == nil {
		b.cur = 0
		return 0
	}
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

// keepalive: probe the connection every 5 s, give up after 3 unanswered
// probes, so a dead libvirtd is noticed within about 20 s.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

// deregisterTimeout bounds how long Watch waits for libvirt to drop its
// callbacks when it returns: a hung libvirtd must not hang the caller.
const deregisterTimeout = 5 * time.Second

// Watch calls fn for every domain lifecycle and agent lifecycle event on
// the source's connection until ctx ends (it then returns nil) or the
// connection closes (it returns an error wrapping model.ErrConnectionClosed).
// fn runs on libvirt's event loop goroutine and must not block.
// StartEventLoop must have been called before the source was opened.
// Deregistering its callbacks on return is bounded in time; when libvirt
// does not answer in time, Watch returns an error wrapping
// context.DeadlineExceeded and leaves the deregistration running.
func (s *Source) Watch(ctx context.Context, fn func(model.Event)) (err error) {
	if err := StartEventLoop(); err != nil {
		return err
	}
	var undo []func() error
	defer func() {
		if uerr := undoBounded(undo, deregisterTimeout); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	closed := make(chan libvirt.ConnectCloseReason, 1)
	if err := s.conn.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		select {
		case closed <- reason:
		default:
		}
	}); err != nil {
		return fmt.Errorf("registering the libvirt close callback: %w", err)
	}
	undo = append(undo, s.conn.UnregisterCloseCallback)
	// Keepalive needs the event loop; a driver without it (test://) refuses,
	// which is harmless.
	_ = s.conn.SetKeepAlive(keepaliveInterval, keepaliveCount)

	lid, err := s.conn.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventLifecycle) {
		if ev, ok := eventOf(d, lifecycleKind(e.Event)); ok {
			fn(ev)
		}
	})
	if err != nil {
		return fmt.Errorf("registering for domain lifecycle events: %w", err)
	}
	undo = append(undo, func() error { return s.conn.DomainEventDeregister(lid) })
	aid, err := s.conn.DomainEventAgentLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventAgentLifecycle) {
		kind := model.EventAgentDisconnected
		if e.State == libvirt.CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED {
			kind = model.EventAgentConnected
		}
		if ev, ok := eventOf(d, kind); ok {
			fn(ev)
		}
	})
	if err != nil {
		return fmt.Errorf("registering for agent lifecycle events: %w", err)
	}
	undo = append(undo, func() error { return s.conn.DomainEventDeregister(aid) })

	select {
	case <-ctx.Done():
		return nil
	case reason := <-closed:
		return fmt.Errorf("%w: %s", model.ErrConnectionClosed, closeReason(reason))
	}
}

// undoBounded runs undo in reverse order in a goroutine and waits for it
// at most timeout. Their own errors are ignored (after the connection
// closed, every deregistration fails); not finishing in time is returned
// as an error wrapping context.DeadlineExceeded.
func undoBounded(undo []func() error, timeout time.Duration) error {
	if len(undo) == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := len(undo) - 1; i >= 0; i-- {
			_ = undo[i]()
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("deregistering libvirt event callbacks: not done after %s: %w", timeout, context.DeadlineExceeded)
	}
}

func eventOf(d *libvirt.Domain, kind model.EventKind) (model.Event, bool) {
	name, err := d.GetName()
	if err != nil {
		return model.Event{}, false
	}
	uuid, err := d.GetUUIDString()
	if err != nil {
		return model.Event{}, false
	}
	return model.Event{Kind: kind, Name: name, UUID: uuid}, true
}

func lifecycleKind(t libvirt.DomainEventType) model.EventKind {
	switch t {
	case libvirt.DOMAIN_EVENT_STARTED, libvirt.DOMAIN_EVENT_RESUMED, libvirt.DOMAIN_EVENT_DEFINED:
		return model.EventStarted
	case libvirt.DOMAIN_EVENT_SUSPENDED, libvirt.DOMAIN_EVENT_PMSUSPENDED:
		return model.EventSuspended
	case libvirt.DOMAIN_EVENT_STOPPED, libvirt.DOMAIN_EVENT_SHUTDOWN, libvirt.DOMAIN_EVENT_CRASHED, libvirt.DOMAIN_EVENT_UNDEFINED:
		return model.EventStopped
	}
	return model.EventOther
}

func closeReason(r libvirt.ConnectCloseReason) string {
	switch r {
	case libvirt.CONNECT_CLOSE_REASON_ERROR:
		return "error"
	case libvirt.CONNECT_CLOSE_REASON_EOF:
		return "end of file"
	case libvirt.CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timeout"
	case libvirt.CONNECT_CLOSE_REASON_CLIENT:
		return "closed by client"
	}
	return fmt.Sprintf("reason %d", int(r))
}
