package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

// TestHostSideNote: a NIC whose host side vmcheck could not read says so in
// the table's REASON, with or without a diagnosis; a known one adds
// nothing.
func TestHostSideNote(t *testing.T) {
	unknown := model.NICResult{MAC: "52:54:00:00:00:02", HostKind: model.HostKindVhostUser,
		HostSide: &model.HostSideResult{Kind: model.HostKindVhostUser, Note: "host side unknown (vhostuser): no OVSDB"}}
	known := model.NICResult{MAC: "52:54:00:00:00:01", HostKind: model.HostKindBridge,
		HostSide: &model.HostSideResult{Kind: model.HostKindBridge, Known: true, Facts: []string{"tap vnet0 up"}}}
	r := model.Result{Name: "vm", State: model.StateDown, Reason: "gateway 192.0.2.1: no reply", NICs: []model.NICResult{known, unknown}}
	want := "gateway 192.0.2.1: no reply; 52:54:00:00:00:02: host side unknown (vhostuser): no OVSDB"
	if got := ReasonText(r); got != want {
		t.Errorf("ReasonText = %q, want %q", got, want)
	}
	r.Diagnosis = []model.Diagnosis{{Code: model.CodeGatewayUnresolved, Layer: model.LayerNetwork, Detail: "no neighbour"}}
	if got := ReasonText(r); !strings.HasPrefix(got, "gateway_unresolved: no neighbour") || !strings.HasSuffix(got, "host side unknown (vhostuser): no OVSDB") {
		t.Errorf("ReasonText = %q, want the cause first and the host note last", got)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, []model.Result{r}, false); err != nil || !strings.Contains(b.String(), "host side unknown (vhostuser)") {
		t.Errorf("table %q (%v): no host-side note", b.String(), err)
	}
	r.NICs = []model.NICResult{known}
	if got := ReasonText(r); strings.Contains(got, "host side") {
		t.Errorf("ReasonText = %q: a known host side adds a note", got)
	}
}
