package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/checker"
)

// TestHostSideNote: a NIC whose host side vmcheck could not read says so in
// the table's REASON, with or without a diagnosis; a known one adds
// nothing.
func TestHostSideNote(t *testing.T) {
	unknown := checker.NICResult{MAC: "52:54:00:00:00:02", HostKind: checker.HostKindVhostUser,
		HostSide: &checker.HostSideResult{Kind: checker.HostKindVhostUser, Note: "host side unknown (vhostuser): no OVSDB"}}
	known := checker.NICResult{MAC: "52:54:00:00:00:01", HostKind: checker.HostKindBridge,
		HostSide: &checker.HostSideResult{Kind: checker.HostKindBridge, Known: true, Facts: []string{"tap vnet0 up"}}}
	r := checker.Result{Name: "vm", State: checker.StateDown, Reason: "gateway 192.0.2.1: no reply", NICs: []checker.NICResult{known, unknown}}
	want := "gateway 192.0.2.1: no reply; 52:54:00:00:00:02: host side unknown (vhostuser): no OVSDB"
	if got := ReasonText(r); got != want {
		t.Errorf("ReasonText = %q, want %q", got, want)
	}
	r.Diagnosis = []checker.Diagnosis{{Code: checker.CodeGatewayUnresolved, Layer: checker.LayerNetwork, Detail: "no neighbour"}}
	if got := ReasonText(r); !strings.HasPrefix(got, "gateway_unresolved: no neighbour") || !strings.HasSuffix(got, "host side unknown (vhostuser): no OVSDB") {
		t.Errorf("ReasonText = %q, want the cause first and the host note last", got)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, []checker.Result{r}, false); err != nil || !strings.Contains(b.String(), "host side unknown (vhostuser)") {
		t.Errorf("table %q (%v): no host-side note", b.String(), err)
	}
	r.NICs = []checker.NICResult{known}
	if got := ReasonText(r); strings.Contains(got, "host side") {
		t.Errorf("ReasonText = %q: a known host side adds a note", got)
	}
}
