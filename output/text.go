package output

import (
	"fmt"

	"github.com/vmcheck/vmcheck/checker"
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
func ProbeOutcome(p checker.ProbeResult, unit RTTUnit) string {
	if p.Status == checker.ProbePassed && p.RTT > 0 {
		return fmt.Sprintf("ok %.1f%s", p.RTT*1000, unit)
	}
	if p.Kind == checker.ProbeAddress && p.Status == checker.ProbeFailed {
		return "missing"
	}
	return string(p.Status)
}

// ProbeSummary is one probe as an item of a list: its target and outcome
// ("203.0.113.10 ok 1.2ms", "192.0.2.1 failed"), or "not configured" for
// the external probe when no external target is.
func ProbeSummary(p checker.ProbeResult, unit RTTUnit) string {
	if p.Status == checker.ProbeNotConfigured {
		return "not configured"
	}
	return p.Target + " " + ProbeOutcome(p, unit)
}

// OSText is the guest OS as "family/id" ("linux/debian"), or the family
// alone when the agent gave no id.
func OSText(o checker.OSResult) string {
	if o.ID != "" {
		return o.Family + "/" + o.ID
	}
	return o.Family
}

// OSTextVersion is OSText followed by the OS version, if known
// ("linux/debian 12").
func OSTextVersion(o checker.OSResult) string {
	if o.Version != "" {
		return OSText(o) + " " + o.Version
	}
	return OSText(o)
}
