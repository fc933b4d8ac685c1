package checker

import (
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// Caps on the text fields of a Result, in runes.
const (
	maxReasonRunes = 1000 // model.Result.Reason
	maxErrorRunes  = 500  // model.ProbeResult.Error
	maxNameRunes   = 256  // domain, OS and device names
	maxTokenRunes  = 64   // addresses, MACs, versions, enums
)

// clean is the one choke point for untrusted text: every string of a Result
// passes guestagent.Sanitize here, with a length cap, before the Result
// leaves the engine. Guests (and libvirt, whose errors quote the agent)
// supply much of it; after clean no table, JSON document, log line, page or
// metric built from a Result can carry a control, format or bidi character.
func clean(r model.Result) model.Result {
	s := guestagent.Sanitize
	r.Name, r.UUID = s(r.Name, maxNameRunes), s(r.UUID, maxTokenRunes)
	r.State = model.State(s(string(r.State), maxTokenRunes))
	r.Reason = s(r.Reason, maxReasonRunes)
	r.OS = model.OSResult{
		Family: s(r.OS.Family, maxTokenRunes), ID: s(r.OS.ID, maxNameRunes),
		Name: s(r.OS.Name, maxNameRunes), Version: s(r.OS.Version, maxNameRunes),
		Source: s(r.OS.Source, maxTokenRunes),
	}
	r.Agent = model.AgentResult{State: model.AgentState(s(string(r.Agent.State), maxTokenRunes)), Version: s(r.Agent.Version, maxTokenRunes)}
	for i := range r.NICs {
		r.NICs[i] = cleanNIC(r.NICs[i])
	}
	for i := range r.Diagnosis {
		d := &r.Diagnosis[i]
		d.Code, d.Layer = model.Code(s(string(d.Code), maxTokenRunes)), model.Layer(s(string(d.Layer), maxTokenRunes))
		d.NIC, d.Detail = guestagent.MAC(s(string(d.NIC), maxTokenRunes)), s(d.Detail, maxReasonRunes)
	}
	for i := range r.Probes {
		p := &r.Probes[i]
		p.Kind, p.Status = model.ProbeKind(s(string(p.Kind), maxTokenRunes)), model.ProbeStatus(s(string(p.Status), maxTokenRunes))
		p.Target, p.NIC, p.Error = s(p.Target, maxNameRunes), guestagent.MAC(s(string(p.NIC), maxTokenRunes)), s(p.Error, maxErrorRunes)
		p.Method, p.Note = s(p.Method, maxTokenRunes), s(p.Note, maxErrorRunes)
		for j := range p.Addresses {
			p.Addresses[j] = s(p.Addresses[j], maxTokenRunes)
		}
	}
	return r
}

// cleanNIC is clean for one NIC.
func cleanNIC(n model.NICResult) model.NICResult {
	s := guestagent.Sanitize
	n.MAC, n.Device, n.Model = guestagent.MAC(s(string(n.MAC), maxTokenRunes)), s(n.Device, maxNameRunes), s(n.Model, maxTokenRunes)
	n.SourceType, n.Source = s(n.SourceType, maxTokenRunes), s(n.Source, maxNameRunes)
	n.GuestName = s(n.GuestName, maxNameRunes)
	for i, ip := range n.IPs {
		n.IPs[i] = s(ip, maxTokenRunes)
	}
	n.Gateway, n.GatewaySource = s(n.Gateway, maxTokenRunes), s(n.GatewaySource, maxTokenRunes)
	n.NetworkType = s(n.NetworkType, maxTokenRunes)
	n.HostKind = s(n.HostKind, maxTokenRunes)
	if h := n.HostSide; h != nil {
		c := model.HostSideResult{Kind: s(h.Kind, maxTokenRunes), Known: h.Known, Note: s(h.Note, maxErrorRunes)}
		for _, f := range h.Facts {
			c.Facts = append(c.Facts, s(f, maxNameRunes))
		}
		n.HostSide = &c
	}
	return n
}
