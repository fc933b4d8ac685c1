package model

import (
	"fmt"
	"maps"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// Code names one cause of a failed check: a closed set, each with its layer,
// evidence and remedy (docs/diagnosis.md lists them all).
type Code string

// Layer says whose the fault is: the host's (the operator's), the guest's
// (the tenant's) or the network's between the VM and the outside.
type Layer string

// Layers.
const (
	LayerHost    Layer = "host"
	LayerGuest   Layer = "guest"
	LayerNetwork Layer = "network"
)

// Diagnosis codes.
const (
	// CodeHostLinkDown: the host set the NIC's link down (libvirt <link
	// state='down'/>, QEMU set_link).
	CodeHostLinkDown Code = "host_link_down"
	// CodeHostTapDown: the NIC's tap on the host is down or not in its
	// bridge.
	CodeHostTapDown Code = "host_tap_down"
	// CodeHostOVSPortDown: the NIC's Open vSwitch port is missing from its
	// bridge, on another bridge, not attached (ofport -1) or down.
	CodeHostOVSPortDown Code = "host_ovs_port_down"
	// CodeHostMacvtapLowerDown: the lower device of the NIC's macvtap is
	// down.
	CodeHostMacvtapLowerDown Code = "host_macvtap_lower_down"
	// CodeHostVFDown: the NIC's SR-IOV VF has link-state disable, or its
	// PF is down.
	CodeHostVFDown Code = "host_vf_down"
	// CodeHostVhostUserDown: the NIC's vhost-user socket is missing, or its
	// OVS-DPDK dpdkvhostuser(client) interface is down.
	CodeHostVhostUserDown Code = "host_vhostuser_down"
	// CodeGuestNICMissing: no guest interface carries the NIC's MAC.
	CodeGuestNICMissing Code = "guest_nic_missing"
	// CodeGuestLinkDown: the guest interface is down or has no carrier.
	CodeGuestLinkDown Code = "guest_link_down"
	// CodeGuestNoAddress: the guest interface has no address of the
	// family the NIC needs.
	CodeGuestNoAddress Code = "guest_no_address"
	// CodeGuestAddressMismatch: the guest holds an address, but not the one
	// the platform assigned.
	CodeGuestAddressMismatch Code = "guest_address_mismatch"
	// CodeGuestNoDefaultRoute: the guest has no default route through the
	// NIC although a gateway is known for it.
	CodeGuestNoDefaultRoute Code = "guest_no_default_route"
	// CodeGatewayUnresolved: after a failed gateway ping the guest's
	// neighbour table has no resolved entry for the gateway: layer 2
	// between the VM and its gateway is broken.
	CodeGatewayUnresolved Code = "gateway_unresolved"
	// CodeGatewayICMPFiltered: the gateway answers ARP/ND but not echo
	// requests (security group, firewall).
	CodeGatewayICMPFiltered Code = "gateway_icmp_filtered"
	// CodeGatewayUnconfirmed: the gateway did not answer the echo, and the
	// guest's neighbour entry for it is resolved but no fresh answer
	// (stale, still being re-checked, static): the guest cannot tell a
	// filter from a layer-2 break.
	CodeGatewayUnconfirmed Code = "gateway_unconfirmed"
	// CodeUpstreamUnreachable: the gateway answers, the external target
	// does not: the fault is beyond the gateway.
	CodeUpstreamUnreachable Code = "upstream_unreachable"

	// The causes the probe methods of a policy name (package probe, where
	// each method registers its own; Codes holds every one registered).

	// CodePacketLoss: echo requests were lost over the icmp probe's
	// max_loss.
	CodePacketLoss = Code(cause.PacketLoss)
	// CodeHighLatency: the round-trip (icmp), connect (tcp) or response
	// (http) time was over the probe's max_rtt.
	CodeHighLatency = Code(cause.HighLatency)
	// CodePathMTUBlackhole: full-size packets with don't-fragment get no
	// answer and no "fragmentation needed" while plain echoes pass.
	CodePathMTUBlackhole = Code(cause.PathMTUBlackhole)
	// CodeDNSFailure: a name does not resolve through the guest's own
	// resolver, or not to the expected address.
	CodeDNSFailure = Code(cause.DNSFailure)
	// CodeTCPRefused: the host answers ping but refuses the port.
	CodeTCPRefused = Code(cause.TCPRefused)
	// CodeTCPFiltered: the host answers ping but the port never answers.
	CodeTCPFiltered = Code(cause.TCPFiltered)
	// CodeHTTPFailure: the URL answers with an unexpected status, or the
	// request fails after the connection is made.
	CodeHTTPFailure = Code(cause.HTTPFailure)
)

// Codes maps every diagnosis code to its layer: the closed set a metric
// label or an alert may name. The engine's own codes, and every cause a
// probe method registered (package probe), at the network layer.
var Codes = codes()

// engineCodes are the causes the engine itself names.
var engineCodes = map[Code]Layer{
	CodeHostLinkDown:         LayerHost,
	CodeHostTapDown:          LayerHost,
	CodeHostOVSPortDown:      LayerHost,
	CodeHostMacvtapLowerDown: LayerHost,
	CodeHostVFDown:           LayerHost,
	CodeHostVhostUserDown:    LayerHost,
	CodeGuestNICMissing:      LayerGuest,
	CodeGuestLinkDown:        LayerGuest,
	CodeGuestNoAddress:       LayerGuest,
	CodeGuestAddressMismatch: LayerGuest,
	CodeGuestNoDefaultRoute:  LayerGuest,
	CodeGatewayUnresolved:    LayerNetwork,
	CodeGatewayICMPFiltered:  LayerNetwork,
	CodeGatewayUnconfirmed:   LayerNetwork,
	CodeUpstreamUnreachable:  LayerNetwork,
}

// codes joins engineCodes and the probe methods' causes; a probe cause
// spelled as an engine code is a programming error.
func codes() map[Code]Layer {
	out := maps.Clone(engineCodes)
	for _, c := range cause.All() {
		if _, dup := out[Code(c)]; dup {
			panic(fmt.Sprintf("model: probe cause %q is an engine code", c))
		}
		out[Code(c)] = LayerNetwork
	}
	return out
}

// Diagnosis is one cause of a check that was not ok: its code and layer,
// the NIC it concerns (its MAC; empty for the VM as a whole) and one
// sentence with the evidence and what to do.
type Diagnosis struct {
	Code   Code           `json:"code"`
	Layer  Layer          `json:"layer"`
	NIC    guestagent.MAC `json:"nic,omitempty"`
	Detail string         `json:"detail"`
}
