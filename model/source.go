package model

import (
	"context"
	"net/netip"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/policy"
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
	Policy policy.Policy
	// Nova is what OpenStack Nova recorded about the instance, if anything.
	Nova Nova
	// Warnings are what the source noticed that the operator should know
	// (a UUID another VM also claims); each check's reason carries them
	// as notes.
	Warnings []string
}

// NIC is one network interface from the domain definition.
type NIC struct {
	MAC    guestagent.MAC
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
	// HostKind is how the NIC is plugged on the host, as the backend read
	// it from the domain definition: one of the HostKind constants.
	HostKind string
	// Host reads the NIC's host side (its tap, Open vSwitch port, macvtap
	// lower device, vhost-user socket, SR-IOV VF). The engine calls it only
	// after a check failed; nil means the backend cannot look at it.
	Host HostInspector
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

// How a NIC is plugged on the host: NIC.HostKind. The backends and their
// host-side inspections (package hostnic) own what each kind means.
const (
	// HostKindBridge is a tap in a Linux bridge.
	HostKindBridge = "bridge"
	// HostKindProxmoxFirewall is a Proxmox VE tap behind its firewall
	// bridge: tapNiM in fwbrNiM, fwlnNiM–fwprNpM into the bridge.
	HostKindProxmoxFirewall = "proxmox-firewall"
	// HostKindOpenVSwitch is a tap on an Open vSwitch bridge (libvirt
	// <virtualport type='openvswitch'>; ML2/OVS and OVN plug this way).
	HostKindOpenVSwitch = "openvswitch"
	// HostKindDirect is a macvtap on a lower device (<interface
	// type='direct'>).
	HostKindDirect = "direct"
	// HostKindVhostUser is a vhost-user socket (OVS-DPDK and others).
	HostKindVhostUser = "vhostuser"
	// HostKindHostdev is an SR-IOV VF passed through (<interface
	// type='hostdev'>).
	HostKindHostdev = "hostdev"
	// HostKindOther is anything else (libvirt network without a bridge,
	// type ethernet, user networking, a QEMU NIC without a config).
	HostKindOther = "other"
)

// HostInspector reads the host side of one NIC. A backend supplies it with
// the NIC; the engine calls it only when a check failed, so a healthy
// check costs no host-side read. It must return by ctx's deadline.
type HostInspector interface {
	InspectHost(ctx context.Context) HostSide
}

// HostSide is what a HostInspector read of a NIC's host side.
type HostSide struct {
	// Kind is the NIC's HostKind.
	Kind string
	// Known says vmcheck could read the host side; when false, Note says
	// why, and the engine names no host cause for the NIC.
	Known bool
	// Facts are what was read, one short phrase each ("tap tap5a7e0c11-3d
	// on OVS bridge br-int", "ofport 3").
	Facts []string
	// Note says why the host side is unknown, or what else to know.
	Note string
	// Fault is the host cause found, nil when none: a code of Codes of the
	// host layer, with its evidence and the kind's remedy in Detail.
	Fault *HostFault
}

// HostFault is a host cause a HostInspector found.
type HostFault struct {
	Code   Code
	Detail string
}

// HostName names the NIC on the host, as its backend's commands take it:
// its host device, else its MAC.
func (n NIC) HostName() string {
	if n.Device != "" {
		return n.Device
	}
	return n.MAC.String()
}

// Nova is what OpenStack Nova wrote about the instance in the domain's
// <metadata> (nova:instance). Both fields are empty for domains Nova does not
// manage.
type Nova struct {
	// Instance is the instance's display name (nova:name).
	Instance string
	// Project is the owning project's name (nova:owner/nova:project).
	Project string
}
