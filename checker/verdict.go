package checker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// verdict turns probe outcomes into the domain state and a one-sentence
// reason.
func verdict(probes []model.ProbeResult) (model.State, string) {
	var passed, failed, errs, degraded int
	var bad, notes []string
	for _, p := range probes {
		switch p.Status {
		case model.ProbeUnavailable:
			notes = append(notes, fmt.Sprintf("%s %s unavailable: %s", p.Method, p.Target, p.Error))
			continue
		case model.ProbeDegraded:
			passed++
			degraded++
		case model.ProbePassed:
			// An address the guest holds says nothing about its
			// reachability: only pings make a VM degraded rather than down.
			if p.Kind != model.ProbeAddress {
				passed++
			}
			continue
		case model.ProbeFailed:
			failed++
		case model.ProbeError:
			errs++
		default:
			continue
		}
		what := string(p.Kind)
		if p.Kind == model.ProbeService {
			what = p.Method
		}
		if p.Target != "" {
			what += " " + p.Target
		}
		bad = append(bad, fmt.Sprintf("%s: %s", what, p.Error))
	}
	sort.Strings(bad)
	sort.Strings(notes)
	reason := strings.Join(bad, "; ")
	switch {
	case passed+failed+errs == 0:
		return model.StateUnknown, withNotes("nothing to probe: no external target is configured and no gateway was found", notes)
	case failed == 0 && errs == 0 && degraded > 0:
		return model.StateDegraded, withNotes(reason, notes)
	case failed == 0 && errs == 0:
		return model.StateOK, withNotes("", notes)
	case failed == 0:
		return model.StateUnknown, withNotes(reason, notes)
	case passed > 0:
		return model.StateDegraded, withNotes(reason, notes)
	default:
		return model.StateDown, withNotes(reason, notes)
	}
}

// channelAgentState describes the agent of a domain that is not probed, from
// its channel alone.
func channelAgentState(ch model.ChannelState) model.AgentState {
	switch ch {
	case model.ChannelNone:
		return model.AgentNoChannel
	case model.ChannelDisconnected:
		return model.AgentDisconnected
	}
	return model.AgentOK
}

// withNotes appends notes to a reason.
func withNotes(reason string, notes []string) string {
	if len(notes) == 0 {
		return reason
	}
	all := strings.Join(notes, "; ")
	if reason == "" {
		return "note: " + all
	}
	return reason + "; note: " + all
}

func unknown(r model.Result, a model.AgentState, reason string) model.Result {
	r.State, r.Agent.State, r.Reason = model.StateUnknown, a, reason
	return r
}

// deadlineReason says that the check ran out of time, and where.
func deadlineReason(err error) string {
	return fmt.Sprintf("the check did not finish before its deadline: %v", guestagent.Sanitize(err.Error(), 300))
}

// agentFailure classifies an error from a first agent call.
func agentFailure(r model.Result, cmd string, err error) model.Result {
	msg := guestagent.Sanitize(err.Error(), 300)
	switch {
	case errors.Is(err, guestagent.ErrNoChannel):
		return unknown(r, model.AgentNoChannel, "the domain has no guest agent channel: add a virtio channel named org.qemu.guest_agent.0 and run qemu-guest-agent in the guest")
	case errors.Is(err, guestagent.ErrDomainNotRunning):
		return unknown(r, model.AgentUnresponsive, "the domain stopped while it was being checked")
	case errors.Is(err, guestagent.ErrCommandDisabled), errors.Is(err, guestagent.ErrCommandNotFound):
		return unknown(r, model.AgentExecDisabled, fmt.Sprintf("%s is not available in the guest agent: %s", cmd, msg))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, guestagent.ErrUnresponsive):
		return unknown(r, model.AgentUnresponsive, fmt.Sprintf("the guest agent does not answer (%s): %s; check that qemu-ga is running and not frozen", cmd, msg))
	}
	return unknown(r, model.AgentUnresponsive, fmt.Sprintf("%s failed: %s", cmd, msg))
}
