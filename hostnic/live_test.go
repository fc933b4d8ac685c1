package hostnic

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/model"
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
	hs := o.Inspector(NIC{Kind: model.HostKindOpenVSwitch, Device: port, Bridge: br}).InspectHost(ctx)
	t.Logf("%+v", hs)
	if !hs.Known || len(hs.Facts) == 0 || hs.Facts[0] != "OVS interface "+port+" on bridge "+br {
		t.Errorf("live read of %s: %+v", port, hs)
	}
	gone := o.Inspector(NIC{Kind: model.HostKindOpenVSwitch, Device: "tapnothere-99", Bridge: br}).InspectHost(ctx)
	if gone.Known || gone.Fault != nil {
		t.Errorf("a port that is neither in the database nor a device here: %+v, want unknown", gone)
	}
	bad := Options{OVSDB: "unix:/nonexistent/db.sock"}.Inspector(NIC{Kind: model.HostKindOpenVSwitch, Device: port, Bridge: br}).InspectHost(ctx)
	if bad.Known || bad.Fault != nil {
		t.Errorf("no database: %+v, want unknown", bad)
	}
}

// BenchmarkLiveOVS is one host-side read of an Open vSwitch port through
// ovs-vsctl (a fork and one OVSDB transaction), on the live database the
// variables of TestLiveOVS name.
func BenchmarkLiveOVS(b *testing.B) {
	db, port, br := os.Getenv("HOSTNIC_TEST_OVSDB"), os.Getenv("HOSTNIC_TEST_OVS_PORT"), os.Getenv("HOSTNIC_TEST_OVS_BRIDGE")
	if db == "" || port == "" || br == "" {
		b.Skip("HOSTNIC_TEST_OVSDB, HOSTNIC_TEST_OVS_PORT, HOSTNIC_TEST_OVS_BRIDGE not set")
	}
	in := Options{OVSDB: db}.Inspector(NIC{Kind: model.HostKindOpenVSwitch, Device: port, Bridge: br})
	ctx := context.Background()
	for b.Loop() {
		if hs := in.InspectHost(ctx); !hs.Known {
			b.Fatalf("%+v", hs)
		}
	}
}

// BenchmarkParseOVS parses a captured answer of ovs-vsctl.
func BenchmarkParseOVS(b *testing.B) {
	out, err := os.ReadFile("../testdata/nic/ovs/healthy.json")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parseOVS(out); err != nil {
			b.Fatal(err)
		}
	}
}
