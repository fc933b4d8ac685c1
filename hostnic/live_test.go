package hostnic

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/checker"
)

// TestLiveOVS reads a real Open vSwitch through ovs-vsctl when
// HOSTNIC_TEST_OVSDB names its database and HOSTNIC_TEST_OVS_PORT a port
// on bridge HOSTNIC_TEST_OVS_BRIDGE (testdata/nic/ovs/capture.sh makes
// one): the whole path — argv, exec, the answer — on a live database.
func TestLiveOVS(t *testing.T) {
	db, port, br := os.Getenv("HOSTNIC_TEST_OVSDB"), os.Getenv("HOSTNIC_TEST_OVS_PORT"), os.Getenv("HOSTNIC_TEST_OVS_BRIDGE")
	if db == "" || port == "" || br == "" {
		t.Skip("HOSTNIC_TEST_OVSDB, HOSTNIC_TEST_OVS_PORT, HOSTNIC_TEST_OVS_BRIDGE not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := Options{OVSDB: db}
	hs := o.Inspector(NIC{Kind: checker.HostKindOpenVSwitch, Device: port, Bridge: br}).InspectHost(ctx)
	t.Logf("%+v", hs)
	if !hs.Known || len(hs.Facts) == 0 || hs.Facts[0] != "OVS interface "+port+" on bridge "+br {
		t.Errorf("live read of %s: %+v", port, hs)
	}
	gone := o.Inspector(NIC{Kind: checker.HostKindOpenVSwitch, Device: "tapnothere-99", Bridge: br}).InspectHost(ctx)
	if gone.Known || gone.Fault != nil {
		t.Errorf("a port that is neither in the database nor a device here: %+v, want unknown", gone)
	}
	bad := Options{OVSDB: "unix:/nonexistent/db.sock"}.Inspector(NIC{Kind: checker.HostKindOpenVSwitch, Device: port, Bridge: br}).InspectHost(ctx)
	if bad.Known || bad.Fault != nil {
		t.Errorf("no database: %+v, want unknown", bad)
	}
}
