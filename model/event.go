package model

import "errors"

// EventKind says what happened to a domain.
type EventKind string

// Event kinds vmcheck reacts to.
const (
	// EventStarted: the domain started, resumed, was restored or defined.
	EventStarted EventKind = "started"
	// EventSuspended: the domain was paused or suspended.
	EventSuspended EventKind = "suspended"
	// EventStopped: the domain shut down, crashed, was destroyed or
	// undefined.
	EventStopped EventKind = "stopped"
	// EventAgentConnected: a guest agent connected to the domain's channel.
	EventAgentConnected EventKind = "agent_connected"
	// EventAgentDisconnected: the guest agent left the channel.
	EventAgentDisconnected EventKind = "agent_disconnected"
	// EventOther is any other lifecycle change.
	EventOther EventKind = "other"
)

// Event is one domain lifecycle or agent lifecycle event.
type Event struct {
	Kind EventKind
	Name string
	UUID string
}

// ErrConnectionClosed is returned by a Source's Watch when the hypervisor
// connection closes (libvirthost: libvirtd restarted, keepalive timeout, …).
// Its text predates other backends and is kept as it is.
var ErrConnectionClosed = errors.New("libvirt connection closed")
