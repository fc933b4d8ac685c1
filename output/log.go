package output

import (
	"fmt"

	"github.com/vmcheck/vmcheck/checker"
)

// LogFields is the structured form of one result for a log line: domain,
// uuid, state (the verdict), agent, os (the family), duration, and reason
// when there is one.
func LogFields(r checker.Result) map[string]any {
	f := map[string]any{
		"domain":   r.Name,
		"uuid":     r.UUID,
		"state":    string(r.State),
		"agent":    string(r.Agent.State),
		"os":       r.OS.Family,
		"duration": r.Duration,
	}
	if r.Reason != "" {
		f["reason"] = r.Reason
	}
	return f
}

// ProbeFields adds one field per probe to f: "probe_KIND_TARGET[_NIC]"
// (the NIC only for a gateway probe that names one), valued with the
// probe's outcome ("ok 1.2ms", "failed", …).
func ProbeFields(f map[string]any, probes []checker.ProbeResult) {
	for _, p := range probes {
		key := fmt.Sprintf("probe_%s_%s", p.Kind, p.Target)
		if p.Kind == checker.ProbeGateway && p.NIC != "" {
			key += "_" + p.NIC
		}
		f[key] = ProbeOutcome(p, Tight)
	}
}
