package model

import (
	"fmt"
	"net/netip"

	"github.com/vmcheck/vmcheck/osdetect"
)

// MaxExpectedAddrs bounds the expected addresses, and separately the
// platform gateways, of one NIC, whatever the number of sources: each
// expected address is one probe per round and one metric series.
const MaxExpectedAddrs = 16

// AppendExpected adds a to list as learned from source, unless a is not
// an address vmcheck may probe (ValidateExpected), is in list already
// (from any source: the first source named wins), or list holds
// MaxExpectedAddrs addresses. Sources fill NIC.Expected and NIC.Gateways
// only through it, so both stay valid and bounded whatever a domain's XML,
// a Proxmox VE config or the config file says.
func AppendExpected(list []ExpectedAddr, a netip.Addr, source string) []ExpectedAddr {
	if ValidateExpected(a) != nil || len(list) >= MaxExpectedAddrs {
		return list
	}
	for _, e := range list {
		if e.Addr == a {
			return list
		}
	}
	return append(list, ExpectedAddr{Addr: a, Source: source})
}

// ValidateExpected rejects what cannot be a NIC's assigned address or
// gateway: what osdetect.ValidateOperatorTarget rejects (invalid,
// unspecified, multicast, broadcast, zoned, loopback), and IPv4-mapped
// IPv6 addresses too: platforms write IPv4 addresses as such.
func ValidateExpected(a netip.Addr) error {
	if err := osdetect.ValidateOperatorTarget(a); err != nil {
		return err
	}
	if a.Is4In6() {
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address; write it as %s", a, a.Unmap())
	}
	return nil
}
