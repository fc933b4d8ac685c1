//go:build cgo

package checker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

// testDomainXML is a minimal domain for libvirt's test driver.
func testDomainXML(name string) string {
	return fmt.Sprintf(`<domain type='test'><name>%s</name><memory>65536</memory>
<os><type>hvm</type></os>
<devices><interface type='network'><mac address='52:54:00:77:00:01'/><source network='default'/></interface></devices>
</domain>`, name)
}

// TestWatchTestDriver drives real libvirt events through the test driver,
// whose "test:///default" state is shared by every connection of this
// process: a second connection changes domains, the source's Watch sees it.
func TestWatchTestDriver(t *testing.T) {
	if err := StartEventLoop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := NewLibvirtSource(ctx, "test:///default", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	events := make(chan Event, 32)
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, func(e Event) { events <- e }) }()

	admin, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	time.Sleep(100 * time.Millisecond) // let Watch register
	dom, err := admin.DomainCreateXML(testDomainXML("vmcheck-events"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()

	expect := func(kind EventKind) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Name == "vmcheck-events" && e.Kind == kind {
					if e.UUID == "" {
						t.Errorf("event %s without a UUID", kind)
					}
					return
				}
			case <-deadline:
				t.Fatalf("no %s event for vmcheck-events", kind)
			}
		}
	}
	expect(EventStarted)
	if err := dom.Suspend(); err != nil {
		t.Fatal(err)
	}
	expect(EventSuspended)
	if err := dom.Resume(); err != nil {
		t.Fatal(err)
	}
	expect(EventStarted)
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	expect(EventStopped)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}
