package output

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/model"
)

func TestReasonText(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		r    model.Result
		want string
	}{
		{"healthy", model.Result{}, ""},
		{"reason only", model.Result{Reason: "gateway 192.0.2.1: no reply"}, "gateway 192.0.2.1: no reply"},
		{"one diagnosis, first sentence", model.Result{Reason: "external 203.0.113.10: no reply",
			Diagnosis: []model.Diagnosis{{Code: model.CodeHostLinkDown, Layer: model.LayerHost,
				Detail: "the link of vnet0 is down on the host. Run virsh domif-setlink web vnet0 up."}}},
			"host_link_down: the link of vnet0 is down on the host; external 203.0.113.10: no reply"},
		{"several, no reason", model.Result{Diagnosis: []model.Diagnosis{
			{Code: model.CodeUpstreamUnreachable, Detail: "beyond the gateway."}, {}, {}}},
			"upstream_unreachable: beyond the gateway (+2 more causes)"},
		{"no detail", model.Result{Diagnosis: []model.Diagnosis{{Code: model.CodeGuestNICMissing}}}, "guest_nic_missing"},
		{"long detail cut", model.Result{Diagnosis: []model.Diagnosis{{Code: model.CodeGuestLinkDown, Detail: long}}},
			"guest_link_down: " + strings.Repeat("x", maxShortDetail-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonText(tt.r); got != tt.want {
				t.Errorf("ReasonText() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiagnosisPlain(t *testing.T) {
	r := model.Result{Name: "web 1", NICs: []model.NICResult{
		{MAC: "52:54:00:00:00:01", Device: "vnet0", SourceType: "bridge", Source: "br0", GuestName: "eth0"}}}
	tests := []struct {
		name string
		d    model.Diagnosis
		want string
	}{
		{"link down names domain and MAC, quoted", model.Diagnosis{Code: model.CodeHostLinkDown, NIC: "52:54:00:00:00:01"},
			"virsh domif-setlink 'web 1' 52:54:00:00:00:01 up"},
		{"tap down names tap and bridge", model.Diagnosis{Code: model.CodeHostTapDown, NIC: "52:54:00:00:00:01"},
			"ip link set vnet0 master br0 up"},
		{"tap of an unknown NIC", model.Diagnosis{Code: model.CodeHostTapDown, NIC: "52:54:00:00:00:09"},
			"ip link set TAP master BRIDGE up"},
		{"guest link names the guest interface", model.Diagnosis{Code: model.CodeGuestLinkDown, NIC: "52:54:00:00:00:01"},
			"eth0 is down inside the guest"},
		{"unknown code shows its detail", model.Diagnosis{Code: "made_up", Detail: "something"}, "something"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DiagnosisPlain(tt.d, r); !strings.Contains(got, tt.want) {
				t.Errorf("DiagnosisPlain(%+v) = %q, want it to contain %q", tt.d, got, tt.want)
			}
		})
	}
	// Every code of the closed set has its own sentence and a named layer.
	for code, layer := range model.Codes {
		d := model.Diagnosis{Code: code, Layer: layer, Detail: "DETAIL"}
		if got := DiagnosisPlain(d, r); got == "" || got == d.Detail {
			t.Errorf("DiagnosisPlain(%s) = %q, want a sentence of its own", code, got)
		}
		if LayerName(layer) == "Unknown" || LayerOwner(layer) == "unknown" {
			t.Errorf("layer %q of %s has no name", layer, code)
		}
	}
}

// TestDiagnosisDocumented keeps docs/diagnosis.md in step with the closed
// set of codes: each has a section naming its layer.
func TestDiagnosisDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "diagnosis.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for code, layer := range model.Codes {
		i := strings.Index(doc, "### `"+string(code)+"`")
		if i < 0 {
			t.Errorf("docs/diagnosis.md has no section ### `%s`", code)
			continue
		}
		section := doc[i:]
		if j := strings.Index(section[1:], "\n### "); j >= 0 {
			section = section[:j+1]
		}
		if !strings.Contains(section, "Layer: **"+string(layer)+"**") {
			t.Errorf("docs/diagnosis.md: section %s does not say Layer: **%s**", code, layer)
		}
	}
}
