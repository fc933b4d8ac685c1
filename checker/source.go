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
	// Warnings are what the source noticed that the operator should know
	// (a UUID another VM also claims); each check's reason carries them
	// as notes.
	Warnings []string
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
	// LinkDown means the host set the NIC's link down (libvirt <link
	// state='down'/>, QEMU set_link).
	LinkDown bool
	// TapProblem says what is wrong with the NIC's tap on the node (down,
	// not in its bridge), when vmcheck runs where it can see it; "" when
	// all is well or it cannot tell.
	TapProblem string
	// Expected are the addresses the platform assigned to the NIC, each
	// with where vmcheck learned it.
	Expected []ExpectedAddr
	// Gateways are gateways the platform knows for the NIC (Proxmox
	// ipconfigN gw=, vmcheck's metadata, the config by MAC), with their
	// source; the libvirt network's are in NetworkAddrs.
	Gateways []ExpectedAddr
}

// ExpectedAddr is an address the platform assigned to a NIC.
type ExpectedAddr struct {
	Addr netip.Addr
	// Source is where it was learned: "nova" (Nova's port metadata),
	// "libvirt-dhcp" (a DHCP host entry or lease of the libvirt network),
	// "metadata" (vmcheck's own domain metadata), "config" (the config
	// file, by MAC), "proxmox" (the VM's ipconfigN).
	Source string
}
