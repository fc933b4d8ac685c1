//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"testing"

	"libvirt.org/go/libvirt"
)

func TestCallCtxInTime(t *testing.T) {
	discarded := false
	v, err := callCtx(context.Background(), func() (int, error) { return 7, nil }, func(int) { discarded = true })
	if v != 7 || err != nil {
		t.Errorf("callCtx = %d, %v; want 7, nil", v, err)
	}
	if discarded {
		t.Error("a value that arrived in time was discarded")
	}
}

// TestCallCtxDiscardsLateConnection plays a libvirt connect that answers
// only after the caller gave up: the connection that finally arrives must
// be closed, not leaked.
func TestCallCtxDiscardsLateConnection(t *testing.T) {
	conn, err := libvirt.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	// The test keeps a reference of its own to see the late one dropped.
	if err := conn.Ref(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	closed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := callCtx(ctx, func() (*libvirt.Connect, error) {
		<-release // libvirtd answers only now
		return conn, nil
	}, func(c *libvirt.Connect) {
		closeConn(c)
		close(closed)
	})
	if got != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("callCtx after its context ended = %v, %v; want nil and context.Canceled", got, err)
	}
	close(release)
	<-closed
	if refs, err := conn.Close(); refs != 0 || err != nil {
		t.Errorf("after the late connection was discarded, the last Close = %d, %v; want 0 references left", refs, err)
	}
}

// TestLibvirtSourceRefs checks that a listing gives back the reference it
// takes on the connection, so Close frees it.
func TestLibvirtSourceRefs(t *testing.T) {
	src, err := New(context.Background(), "test:///default", 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		doms, err := src.Domains(context.Background())
		if err != nil || len(doms) != 1 || doms[0].Name != "test" {
			t.Fatalf("Domains = %v, %v; want the test driver's domain", doms, err)
		}
	}
	if err := src.pool.Close(); err != nil {
		t.Fatal(err)
	}
	if refs, err := src.conn.Close(); refs != 0 || err != nil {
		t.Errorf("Close after two listings = %d references left, %v; want 0", refs, err)
	}
}
