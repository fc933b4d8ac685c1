package history

import (
	"fmt"
	"testing"

	"github.com/vmcheck/vmcheck/exporter/labels"
)

// TestRetiredBounded: of the label budgets of domains that went away, at
// most MaxRetired are kept.
func TestRetiredBounded(t *testing.T) {
	h := New(3)
	for i := range MaxRetired + 1 {
		h.retire(fmt.Sprintf("0b4ec1c4-5d3a-4c5e-9b1e-%012x", i), labels.Budget{})
	}
	if len(h.retired) != MaxRetired {
		t.Errorf("%d retired budgets kept, want at most %d", len(h.retired), MaxRetired)
	}
}
