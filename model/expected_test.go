package model

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestAppendExpected(t *testing.T) {
	var list []ExpectedAddr
	for _, s := range []string{"192.0.2.1", "192.0.2.1", "0.0.0.0", "224.0.0.1", "127.0.0.1", "::ffff:192.0.2.9", "fe80::1%eth0", "2001:db8::1"} {
		list = AppendExpected(list, netip.MustParseAddr(s), "nova")
	}
	if got, want := fmt.Sprint(list), "[{192.0.2.1 nova} {2001:db8::1 nova}]"; got != want {
		t.Errorf("AppendExpected = %s, want %s", got, want)
	}
	list = AppendExpected(list, netip.MustParseAddr("192.0.2.1"), "config")
	if list[0].Source != "nova" {
		t.Errorf("AppendExpected: a later source replaced the first: %v", list)
	}
	for i := range 40 {
		list = AppendExpected(list, netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), "config")
	}
	if len(list) != MaxExpectedAddrs {
		t.Errorf("AppendExpected kept %d addresses, want %d", len(list), MaxExpectedAddrs)
	}
}
