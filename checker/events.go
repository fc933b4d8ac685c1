//go:build cgo

package checker

import (
	"context"
	"fmt"
	"sync"

	"libvirt.org/go/libvirt"
)

var (
	eventLoopOnce sync.Once
	eventLoopErr  error
)

// StartEventLoop registers libvirt's default event loop implementation and
// runs it in a goroutine for the life of the process. Call it before the
// first NewLibvirtSource whose events you want (libvirt binds a connection
// to the event loop when the connection opens); later calls do nothing and
// return the first call's error.
func StartEventLoop() error {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoopErr = fmt.Errorf("registering the libvirt event loop: %w", err)
			return
		}
		go func() {
			for {
				// An iteration error is transient (a poll interrupted);
				// the loop must keep running for callbacks to fire.
				_ = libvirt.EventRunDefaultImpl()
			}
		}()
	})
	return eventLoopErr
}

// keepalive: probe the connection every 5 s, give up after 3 unanswered
// probes, so a dead libvirtd is noticed within about 20 s.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

// Watch calls fn for every domain lifecycle and agent lifecycle event on
// the source's connection until ctx ends (it then returns nil) or the
// connection closes (it returns an error wrapping ErrConnectionClosed).
// fn runs on libvirt's event loop goroutine and must not block.
// StartEventLoop must have been called before the source was opened.
func (s *LibvirtSource) Watch(ctx context.Context, fn func(Event)) error {
	if err := StartEventLoop(); err != nil {
		return err
	}
	closed := make(chan libvirt.ConnectCloseReason, 1)
	if err := s.conn.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		select {
		case closed <- reason:
		default:
		}
	}); err != nil {
		return fmt.Errorf("registering the libvirt close callback: %w", err)
	}
	defer func() { _ = s.conn.UnregisterCloseCallback() }()
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
	defer func() { _ = s.conn.DomainEventDeregister(lid) }()
	aid, err := s.conn.DomainEventAgentLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventAgentLifecycle) {
		kind := EventAgentDisconnected
		if e.State == libvirt.CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED {
			kind = EventAgentConnected
		}
		if ev, ok := eventOf(d, kind); ok {
			fn(ev)
		}
	})
	if err != nil {
		return fmt.Errorf("registering for agent lifecycle events: %w", err)
	}
	defer func() { _ = s.conn.DomainEventDeregister(aid) }()

	select {
	case <-ctx.Done():
		return nil
	case reason := <-closed:
		return fmt.Errorf("%w: %s", ErrConnectionClosed, closeReason(reason))
	}
}

func eventOf(d *libvirt.Domain, kind EventKind) (Event, bool) {
	name, err := d.GetName()
	if err != nil {
		return Event{}, false
	}
	uuid, err := d.GetUUIDString()
	if err != nil {
		return Event{}, false
	}
	return Event{Kind: kind, Name: name, UUID: uuid}, true
}

func lifecycleKind(t libvirt.DomainEventType) EventKind {
	switch t {
	case libvirt.DOMAIN_EVENT_STARTED, libvirt.DOMAIN_EVENT_RESUMED, libvirt.DOMAIN_EVENT_DEFINED:
		return EventStarted
	case libvirt.DOMAIN_EVENT_SUSPENDED, libvirt.DOMAIN_EVENT_PMSUSPENDED:
		return EventSuspended
	case libvirt.DOMAIN_EVENT_STOPPED, libvirt.DOMAIN_EVENT_SHUTDOWN, libvirt.DOMAIN_EVENT_CRASHED, libvirt.DOMAIN_EVENT_UNDEFINED:
		return EventStopped
	}
	return EventOther
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
