package model

import (
	"net/netip"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/policy"
)

// State is the verdict on one domain's connectivity.
type State string

// Domain states, as reported in the JSON contract.
const (
	// StateOK means every probe passed.
	StateOK State = "ok"
	// StateDegraded means some probes passed and some failed.
	StateDegraded State = "degraded"
	// StateDown means every probe that could be run failed.
	StateDown State = "down"
	// StateUnknown means the domain could not be checked (agent problem,
	// guest-exec disabled, deadline); Result.Reason says why.
	StateUnknown State = "unknown"
	// StatePaused means the domain is paused and was not probed.
	StatePaused State = "paused"
)

// AgentState describes how far vmcheck got with a domain's guest agent.
type AgentState string

// Agent states, as reported in the JSON contract.
const (
	// AgentOK means the agent answered and allows guest-exec.
	AgentOK AgentState = "ok"
	// AgentNoChannel means the domain has no guest agent channel.
	AgentNoChannel AgentState = "no_channel"
	// AgentDisconnected means the channel exists but no agent is connected.
	AgentDisconnected AgentState = "disconnected"
	// AgentUnresponsive means the agent did not answer in time.
	AgentUnresponsive AgentState = "unresponsive"
	// AgentExecDisabled means the agent answers but blocks guest-exec or
	// guest-exec-status.
	AgentExecDisabled AgentState = "exec_disabled"
)

// ProbeKind says what a probe targets.
type ProbeKind string

// Probe kinds.
const (
	// ProbeExternal is a ping to a configured address outside the node.
	ProbeExternal ProbeKind = "external"
	// ProbeGateway is a ping to one NIC's gateway.
	ProbeGateway ProbeKind = "gateway"
	// ProbeAddress checks that the guest holds, on one NIC, the address
	// the platform assigned to it (no ping: the guest's interface list).
	ProbeAddress ProbeKind = "address"
	// ProbeService is a probe of a policy method other than icmp (mtu,
	// dns, tcp, http; see package probe): its Method says which.
	ProbeService ProbeKind = "service"
)

// ProbeStatus is the outcome of one probe.
type ProbeStatus string

// Probe outcomes. Only ProbeFailed says something about the link; ProbeError
// means the probe could not tell (timeout, spawn failure, oversize output).
const (
	// ProbePassed means an echo reply was seen.
	ProbePassed ProbeStatus = "ok"
	// ProbeFailed means the ping ran and no reply came back.
	ProbeFailed ProbeStatus = "failed"
	// ProbeError means the probe could not be run or its outcome is unknown.
	ProbeError ProbeStatus = "error"
	// ProbeNotConfigured marks the external probe when no external target is
	// configured.
	ProbeNotConfigured ProbeStatus = "not_configured"
	// ProbeDegraded means the probe passed but crossed a threshold of its
	// policy (loss, round-trip time): the VM is degraded.
	ProbeDegraded ProbeStatus = "degraded"
	// ProbeUnavailable means the guest lacks the tool the method needs (or
	// its OS family cannot do the method): no verdict on the network.
	ProbeUnavailable ProbeStatus = "unavailable"
)

// Report is the document `vmcheck check --output json` prints.
type Report struct {
	Domains []Result `json:"domains"`
}

// Result is everything one round learned about one domain. It is plain data:
// every output format and metric is built from it.
type Result struct {
	Name   string        `json:"name"`
	UUID   string        `json:"uuid"`
	State  State         `json:"state,omitempty"`
	OS     OSResult      `json:"os"`
	Agent  AgentResult   `json:"agent"`
	NICs   []NICResult   `json:"nics"`
	Probes []ProbeResult `json:"probes"`
	Reason string        `json:"reason,omitempty"`
	// Diagnosis lists the causes of a result that is not ok, most
	// fundamental first; a healthy VM has none.
	Diagnosis []Diagnosis `json:"diagnosis,omitempty"`
	// Alert is the domain's alert policy in force (Policy.EffectiveAlert):
	// whom vmcheck's alerts about it go to. Check sets it.
	Alert     *policy.Alert `json:"alert,omitempty"`
	CheckedAt time.Time     `json:"checked_at"`
	Duration  float64       `json:"duration_seconds"`
}

// OSResult is the guest operating system as detected through the agent.
type OSResult struct {
	Family  string `json:"family"`
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Source  string `json:"source,omitempty"`
}

// AgentResult describes the guest agent of a domain.
type AgentResult struct {
	State   AgentState `json:"state"`
	Version string     `json:"version,omitempty"`
}

// NICResult is one network interface of a domain, with what vmcheck learned
// about its addresses and gateway.
type NICResult struct {
	MAC           guestagent.MAC `json:"mac"`
	Device        string         `json:"device,omitempty"`
	Model         string         `json:"model,omitempty"`
	SourceType    string         `json:"source_type,omitempty"`
	Source        string         `json:"source,omitempty"`
	GuestName     string         `json:"guest_name,omitempty"`
	IPs           []string       `json:"ips"`
	Gateway       string         `json:"gateway,omitempty"`
	GatewaySource string         `json:"gateway_source,omitempty"`
	NetworkType   string         `json:"network_type"`
	// HostKind is how the NIC is plugged on the host (bridge, openvswitch,
	// direct, vhostuser, hostdev, proxmox-firewall, other).
	HostKind string `json:"host_kind,omitempty"`
	// HostSide is what vmcheck read of the NIC's host side; only a check
	// that failed reads it.
	HostSide *HostSideResult `json:"host_side,omitempty"`
}

// HostSideResult is what vmcheck read of a NIC's host side after a failed
// check. Known false ("host side unknown (kind)", Note says why) never
// comes with a host cause.
type HostSideResult struct {
	Kind  string   `json:"kind"`
	Known bool     `json:"known"`
	Facts []string `json:"facts,omitempty"`
	Note  string   `json:"note,omitempty"`
}

// ProbeResult is one probe run inside the guest: a ping (method icmp), a
// check of an assigned address (kind address, no method), or a probe of
// another method of the VM's policy (kind service). Measured values are
// omitted when the method does not measure them.
type ProbeResult struct {
	Kind   ProbeKind      `json:"kind"`
	Method string         `json:"method,omitempty"`
	Target string         `json:"target,omitempty"`
	NIC    guestagent.MAC `json:"nic,omitempty"`
	OK     bool           `json:"ok"`
	// Status is ok, degraded, failed, error, unavailable or not_configured.
	Status ProbeStatus `json:"status"`
	// RTT is the round-trip time (icmp: the average), the connect time
	// (tcp) or the response time (http).
	RTT    float64 `json:"rtt_seconds,omitempty"`
	RTTMin float64 `json:"rtt_min_seconds,omitempty"`
	RTTMax float64 `json:"rtt_max_seconds,omitempty"`
	// Sent and Received count echo requests and replies; Loss is the
	// ratio without a reply (icmp with a count above 1, or thresholds).
	Sent     int      `json:"sent,omitempty"`
	Received int      `json:"received,omitempty"`
	Loss     *float64 `json:"loss_ratio,omitempty"`
	// NICMTU is the guest NIC's MTU and PathMTU the largest packet that
	// passed with don't-fragment set (mtu).
	NICMTU  int `json:"nic_mtu,omitempty"`
	PathMTU int `json:"path_mtu,omitempty"`
	// HTTPStatus is the status code an http probe got.
	HTTPStatus int `json:"http_status,omitempty"`
	// Addresses are what a dns probe's name resolved to.
	Addresses []string `json:"addresses,omitempty"`
	Error     string   `json:"error,omitempty"`
	// Note is a warning (a value at the warn_at level of its threshold) or
	// what else the probe noticed.
	Note string `json:"note,omitempty"`
	// Addr is Target as an address for the probes whose target is one
	// (kinds external, gateway and address), the zero Addr for the
	// others: outputs format it (metric labels) instead of parsing Target
	// back.
	Addr netip.Addr `json:"-"`
	// Cause and CauseDetail are the diagnosis the probe's method named,
	// for the engine's diagnosis (Result.Diagnosis says them): not part
	// of the JSON contract.
	Cause       Code   `json:"-"`
	CauseDetail string `json:"-"`
}
