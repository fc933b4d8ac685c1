package metrics

import (
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/qemuhost"
)

// TestSourceUpMetrics: vmcheck_source_up{backend} reports the connection
// of the backend SetSourceUp named, and vmcheck_libvirt_up keeps the same
// value on every backend.
func TestSourceUpMetrics(t *testing.T) {
	tests := []struct {
		name   string
		set    func(h *history.History)
		want   []string
		absent []string
	}{
		{"libvirt up", func(h *history.History) { h.SetSourceUp(libvirthost.Name, true) },
			[]string{`vmcheck_source_up{backend="libvirt"} 1`, "vmcheck_libvirt_up 1"}, nil},
		{"qemu down", func(h *history.History) { h.SetSourceUp(qemuhost.Name, false) },
			[]string{`vmcheck_source_up{backend="qemu"} 0`, "vmcheck_libvirt_up 0"}, nil},
		{"qemu up", func(h *history.History) { h.SetSourceUp(qemuhost.Name, true) },
			[]string{`vmcheck_source_up{backend="qemu"} 1`, "vmcheck_libvirt_up 1"}, []string{`backend="libvirt"`}},
		{"SetLibvirtUp keeps the backend", func(h *history.History) { h.SetSourceUp(qemuhost.Name, false); h.SetLibvirtUp(true) },
			[]string{`vmcheck_source_up{backend="qemu"} 1`, "vmcheck_libvirt_up 1"}, nil},
		{"no backend named", func(h *history.History) { h.SetLibvirtUp(true) },
			[]string{"vmcheck_libvirt_up 1"}, []string{"vmcheck_source_up{"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := history.New(3)
			tt.set(h)
			got := string(gatherText(t, testCollector(h)))
			for _, w := range tt.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("metrics lack %q:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("metrics hold %q:\n%s", a, got)
				}
			}
		})
	}
}

// qemuEngine is a fakeEngine whose config selects the QEMU backend.
