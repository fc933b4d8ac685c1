package web

import (
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/model"
)

// TestVMPageHostSide: the VM page's NIC table shows each NIC's host kind,
// the facts of a host side read, and "host side unknown (kind)" with why.
func TestVMPageHostSide(t *testing.T) {
	h := exportertest.History(1)
	doms, res := exportertest.Fixture(exportertest.T0.Add(time.Minute))
	for i := range res {
		if res[i].UUID != exportertest.UUIDDebian {
			continue
		}
		res[i].NICs[0].HostKind = model.HostKindVhostUser
		res[i].NICs[0].HostSide = &model.HostSideResult{Kind: model.HostKindVhostUser,
			Note: "host side unknown (vhostuser): <b>no OVSDB</b>"}
		h.Record(doms[i], res[i], nil)
	}
	srv := testServer(t, h)
	_, body, _ := get(t, srv.URL+"/vm/"+exportertest.UUIDDebian)
	for _, want := range []string{"<th>Host side</th>", `<td class="host-side">vhostuser <span>host side unknown (vhostuser): &lt;b&gt;no OVSDB&lt;/b&gt;</span></td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("VM page lacks %q", want)
		}
	}
}
