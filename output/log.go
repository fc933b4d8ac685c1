package output

import (
	"github.com/vmcheck/vmcheck/model"
)

// LogFields is the structured form of one result for a log line: domain,
// uuid, state (the verdict), agent, os (the family), duration, reason
// when there is one, and diagnosis: the causes as a list of LogDiagnosis
// (empty for a healthy VM).
func LogFields(r model.Result) map[string]any {
	f := map[string]any{
		"domain":    r.Name,
		"uuid":      r.UUID,
		"state":     string(r.State),
		"agent":     string(r.Agent.State),
		"os":        r.OS.Family,
		"duration":  r.Duration,
		"diagnosis": diagnosisFields(r.Diagnosis),
	}
	if r.Reason != "" {
		f["reason"] = r.Reason
	}
	return f
}

// LogProbe is one probe in a log line: the same keys for every probe, so a
// log index (Loki, Elasticsearch) keeps a fixed field mapping whatever the
// targets are.
type LogProbe struct {
	Kind    string  `json:"kind"`
	Target  string  `json:"target,omitempty"`
	NIC     string  `json:"nic,omitempty"`
	Status  string  `json:"status"`
	RTT     float64 `json:"rtt_seconds,omitempty"`
	Error   string  `json:"error,omitempty"`
	Outcome string  `json:"outcome"` // as the table shows it: "ok 1.2ms", "failed", …
}

// ProbeFields adds the field "probes" to f: the probes as a list of
// LogProbe.
func ProbeFields(f map[string]any, probes []model.ProbeResult) {
	list := make([]LogProbe, 0, len(probes))
	for _, p := range probes {
		list = append(list, LogProbe{Kind: string(p.Kind), Target: p.Target, NIC: p.NIC.String(), Status: string(p.Status),
			RTT: p.RTT, Error: p.Error, Outcome: ProbeOutcome(p, Tight)})
	}
	f["probes"] = list
}
