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

// ValidatePingTarget reports why a must never be put into a ping argv,
// or nil: the rule for an address the guest reported (a gateway from its
// routes), which may carry the zone, the guest's interface, that a
// link-local IPv6 address needs. It rejects an invalid address, the
// unspecified addresses, multicast addresses, the IPv4 broadcast address
// 255.255.255.255, a zone on anything but a link-local IPv6 address, and a
// zone that is not an interface name or index. It judges a as given:
// PingCommand, which pings an IPv4-mapped address as the IPv4 address it
// maps, validates the unmapped address, and also requires the zone a
// link-local IPv6 target needs.
//
// An address a person wrote (config, flags, metadata) passes the stricter
// ValidateOperatorTarget instead.
func ValidatePingTarget(a netip.Addr) error {
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

// ValidateOperatorTarget reports why a, an address a person wrote (the
// config file, a flag, a domain's metadata, a probe spec), must not be
// probed from inside a guest, or nil: what ValidatePingTarget rejects,
// any zone (the writer cannot know the guest's interface), and loopback
// addresses, IPv4-mapped ones included (the guest itself always answers
// them, so the probe would pass whatever its network).
func ValidateOperatorTarget(a netip.Addr) error {
	if err := ValidatePingTarget(a); err != nil {
		return err
	}
	if a.Zone() != "" {
		return fmt.Errorf("%s has a zone; use an address without %%zone", a)
	}
	if a.IsLoopback() {
		return fmt.Errorf("%s is a loopback address: the guest itself always answers it, so the probe would pass whatever its network", a)
	}
	return nil
}
