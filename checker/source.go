package checker

import (
	"context"
	"net/netip"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Source lists the domains of one host, with what the hypervisor knows about
// them. Sources are the only code that talks to a hypervisor API.
type Source interface {
	Domains(ctx context.Context) ([]Domain, error)
}

// RunState is what the hypervisor says about a domain's execution.
type RunState string

// Run states vmcheck distinguishes.
const (
	// Running domains are checked.
	Running RunState = "running"
	// Paused domains are reported, not probed.
	Paused RunState = "paused"
	// Other covers shutting down, crashed, and similar transient states.
	Other RunState = "other"
)

// ChannelState is the state of the guest agent channel as the hypervisor sees
// it, learned without talking to the agent.
type ChannelState string

// Channel states.
const (
	// ChannelNone means the domain has no guest agent channel.
	ChannelNone ChannelState = "none"
	// ChannelConnected means an agent is connected to the channel.
	ChannelConnected ChannelState = "connected"
	// ChannelDisconnected means the channel exists but no agent is connected.
	ChannelDisconnected ChannelState = "disconnected"
	// ChannelUnknown means the hypervisor does not say (e.g. old libvirt).
	ChannelUnknown ChannelState = "unknown"
)

// Domain is one VM as a Source reports it.
type Domain struct {
	Name  string
	UUID  string
	State RunState
	// BootID changes whenever the domain (re)starts; per-boot facts such as
	// the OS are cached under it.
	BootID  string
	Channel ChannelState
	NICs    []NIC
	// Agent reaches the domain's guest agent.
	Agent guestagent.Transport
	// Policy is the domain's own vmcheck policy from its libvirt
	// <metadata>; Checker.Select lays it over the config file's rules.
	Policy Policy
	// Nova is what OpenStack Nova recorded about the instance, if anything.
	Nova Nova
}

// NIC is one network interface from the domain definition.
type NIC struct {
	MAC    string
	Device string
	Model  string
	// SourceType is "network", "bridge", "direct", …; Source is the libvirt
	// network or bridge name.
	SourceType string
	Source     string
	// Bridge is the host bridge the NIC is plugged into, when known.
	Bridge string
	// NetworkAddrs are the host-side addresses of the libvirt network the
	// NIC is attached to (its <ip address=…>), which act as its gateway.
	NetworkAddrs []netip.Prefix
}
