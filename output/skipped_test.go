package output

import (
	"bytes"
	"testing"

	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/policy"
	"github.com/vmcheck/vmcheck/qemuhost"
	"github.com/vmcheck/vmcheck/settings"
)

func TestWriteSkipped(t *testing.T) {
	doms := []model.Domain{
		{Name: "web-1", UUID: "u1"},
		{Name: "bad\x1b[2J", UUID: "u2", Policy: policy.Policy{Error: `vmcheck metadata ignored: enabled: "yes" is not true or false`}},
	}
	tests := []struct {
		name string
		host settings.Backend
		want string
	}{
		{"libvirt", libvirthost.Backend{}, `skipped web-1 (u1): not opted in: its metadata has no <vmcheck:check enabled="true"/>
skipped bad [2J (u2): not opted in: vmcheck metadata ignored: enabled: "yes" is not true or false
`},
		{"qemu", qemuhost.Backend{}, `skipped web-1 (u1): not opted in: no config policy with enabled: true matches it
skipped bad [2J (u2): not opted in: no config policy with enabled: true matches it
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteSkipped(&b, tt.host, doms)
			if b.String() != tt.want {
				t.Errorf("WriteSkipped =\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
