package osdetect

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/vmcheck/vmcheck/guestagent"
)

// broadcast4 is the limited broadcast address, never a ping target.
var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// zoneName is what a ping target may carry as the zone of a link-local
// IPv6 address: a Linux interface name or a Windows interface index.
var zoneName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)

// ValidateTarget reports why a must never be put into a ping argv, or nil.
// It rejects an invalid address, the unspecified addresses, multicast
// addresses, the IPv4 broadcast address 255.255.255.255, a zone on
// anything but a link-local IPv6 address, and a zone that is not an
// interface name or index. It judges a as given: PingCommand, which pings
// an IPv4-mapped address as the IPv4 address it maps, validates the
// unmapped address, and also requires the zone a link-local IPv6 target
// needs.
//
// It is the one rule for ping targets: the checker validates configured
// targets, policy targets and learned gateways with it before any guest
// command is built.
func ValidateTarget(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("not a valid IP address")
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", a)
	case a.IsMulticast():
		return fmt.Errorf("%s is a multicast address", a)
	case a.Is4() && a == broadcast4:
		return fmt.Errorf("%s is the broadcast address", a)
	}
	zone := a.Zone()
	switch {
	case zone == "":
		return nil
	case !a.WithZone("").IsLinkLocalUnicast():
		return fmt.Errorf("%s has a zone; use an address without %%zone", a)
	case !zoneName.MatchString(zone):
		return fmt.Errorf("zone %q of %s is not an interface name or index", guestagent.Sanitize(zone, 32), a.WithZone(""))
	}
	return nil
}
