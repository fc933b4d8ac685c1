package exportertest

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// ParseTextfile parses b in the Prometheus text format, as node_exporter
// does, failing t on what it would reject, and counts each family's
// series.
func ParseTextfile(t *testing.T, b []byte) map[string]int {
	t.Helper()
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the textfile does not parse: %v\n%s", err, b)
	}
	counts := map[string]int{}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s has a timestamp; node_exporter would reject the file", name)
			}
		}
		counts[name] = len(mf.Metric)
	}
	return counts
}
