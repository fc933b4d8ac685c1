package output

import (
	"fmt"

	"github.com/vmcheck/vmcheck/model"
)

// RTTUnit is how probe text writes the unit after a round-trip time in
// milliseconds.
type RTTUnit string

// Round-trip units.
const (
	// Tight writes "1.2ms": the tables and the cron log.
	Tight RTTUnit = "ms"
	// Spaced writes "1.2 ms": the status page.
	Spaced RTTUnit = " ms"
)

// ProbeOutcome is what became of one probe, as people read it: "ok 1.2ms"
// for a reply with its round-trip time, "missing" for an address probe
// whose address the guest does not hold, else the probe's status ("ok",
// "failed", "error", "not_configured").
//
// What a probe measured follows its status: "ok 1.2ms 10% loss",
// "degraded 35% loss", an http probe's "ok 200 3.1ms", an mtu probe's
// "ok mtu 1500" or "failed 1280 passed".
func ProbeOutcome(p model.ProbeResult, unit RTTUnit) string {
	if p.Kind == model.ProbeAddress && p.Status == model.ProbeFailed {
		return "missing"
	}
	out := string(p.Status)
	if p.HTTPStatus > 0 {
		out += fmt.Sprintf(" %d", p.HTTPStatus)
	}
	passed := p.Status == model.ProbePassed || p.Status == model.ProbeDegraded
	if passed && p.RTT > 0 {
		out += fmt.Sprintf(" %.1f%s", p.RTT*1000, unit)
	}
	if p.Loss != nil && p.Sent > 1 && (*p.Loss > 0 || p.Status != model.ProbePassed) {
		out += fmt.Sprintf(" %.0f%% loss", *p.Loss*100)
	}
	switch {
	case p.Method == "mtu" && passed && p.PathMTU > 0:
		out += fmt.Sprintf(" mtu %d", p.PathMTU)
	case p.Method == "mtu" && p.PathMTU > 0:
		out += fmt.Sprintf(" %d passed", p.PathMTU)
	}
	return out
}

// ProbeSummary is one probe as an item of a list: its target and outcome
// ("203.0.113.10 ok 1.2ms", "192.0.2.1 failed"), or "not configured" for
// the external probe when no external target is.
func ProbeSummary(p model.ProbeResult, unit RTTUnit) string {
	if p.Status == model.ProbeNotConfigured {
		return "not configured"
	}
	if p.Kind == model.ProbeService {
		return p.Method + " " + p.Target + " " + ProbeOutcome(p, unit)
	}
	return p.Target + " " + ProbeOutcome(p, unit)
}

// OSText is the guest OS as "family/id" ("linux/debian"), or the family
// alone when the agent gave no id.
func OSText(o model.OSResult) string {
	if o.ID != "" {
		return o.Family + "/" + o.ID
	}
	return o.Family
}

// OSTextVersion is OSText followed by the OS version, if known
// ("linux/debian 12").
func OSTextVersion(o model.OSResult) string {
	if o.Version != "" {
		return OSText(o) + " " + o.Version
	}
	return OSText(o)
}
