package checker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
)

// verdict turns probe outcomes into the domain state and a one-sentence
// reason.
func verdict(probes []ProbeResult) (State, string) {
	var passed, failed, errs, degraded int
	var bad, notes []string
	for _, p := range probes {
		switch p.Status {
		case ProbeUnavailable:
			notes = append(notes, fmt.Sprintf("%s %s unavailable: %s", p.Method, p.Target, p.Error))
			continue
		case ProbeDegraded:
			passed++
			degraded++
		case ProbePassed:
			// An address the guest holds says nothing about its
			// reachability: only pings make a VM degraded rather than down.
			if p.Kind != ProbeAddress {
				passed++
			}
			continue
		case ProbeFailed:
			failed++
		case ProbeError:
			errs++
		default:
			continue
		}
		what := string(p.Kind)
		if p.Kind == ProbeService {
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
		return StateUnknown, withNotes("nothing to probe: no external target is configured and no gateway was found", notes)
	case failed == 0 && errs == 0 && degraded > 0:
		return StateDegraded, withNotes(reason, notes)
	case failed == 0 && errs == 0:
		return StateOK, withNotes("", notes)
	case failed == 0:
		return StateUnknown, withNotes(reason, notes)
	case passed > 0:
		return StateDegraded, withNotes(reason, notes)
	default:
		return StateDown, withNotes(reason, notes)
	}
}

// channelAgentState describes the agent of a domain that is not probed, from
// its channel alone.
func channelAgentState(ch ChannelState) AgentState {
	switch ch {
	case ChannelNone:
		return AgentNoChannel
	case ChannelDisconnected:
		return AgentDisconnected
	}
	return AgentOK
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

func unknown(r Result, a AgentState, reason string) Result {
	r.State, r.Agent.State, r.Reason = StateUnknown, a, reason
	return r
}

// deadlineReason says that the check ran out of time, and where.
func deadlineReason(err error) string {
	return fmt.Sprintf("the check did not finish before its deadline: %v", guestagent.Sanitize(err.Error(), 300))
}

// agentFailure classifies an error from a first agent call.
func agentFailure(r Result, cmd string, err error) Result {
	msg := guestagent.Sanitize(err.Error(), 300)
	switch {
	case errors.Is(err, guestagent.ErrNoChannel):
		return unknown(r, AgentNoChannel, "the domain has no guest agent channel: add a virtio channel named org.qemu.guest_agent.0 and run qemu-guest-agent in the guest")
	case errors.Is(err, guestagent.ErrDomainNotRunning):
		return unknown(r, AgentUnresponsive, "the domain stopped while it was being checked")
	case errors.Is(err, guestagent.ErrCommandDisabled), errors.Is(err, guestagent.ErrCommandNotFound):
		return unknown(r, AgentExecDisabled, fmt.Sprintf("%s is not available in the guest agent: %s", cmd, msg))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, guestagent.ErrUnresponsive):
		return unknown(r, AgentUnresponsive, fmt.Sprintf("the guest agent does not answer (%s): %s; check that qemu-ga is running and not frozen", cmd, msg))
	}
	return unknown(r, AgentUnresponsive, fmt.Sprintf("%s failed: %s", cmd, msg))
}
