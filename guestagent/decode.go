package guestagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Caps on what decoders keep from a guest. A reply that holds more is
// decoded up to the cap and the rest is never read; the call returns what
// was kept together with an error wrapping ErrTruncated that says so.
const (
	maxCommands   = 512  // guest-info commands (qemu-ga 9.x knows about 70)
	maxInterfaces = 256  // interfaces from guest-network-get-interfaces
	maxAddrs      = 64   // addresses per interface
	maxRoutes     = 4096 // routes from guest-network-get-route
	maxNameRunes  = 64   // interface and command names
	maxFieldRunes = 256  // osinfo fields and versions
	maxTruncNotes = 4    // truncation notes one decoder reports
)

// truncations collects what a decoder cut, for one ErrTruncated error.
type truncations []string

func (t *truncations) add(format string, args ...any) {
	if len(*t) < maxTruncNotes {
		*t = append(*t, fmt.Sprintf(format, args...))
	}
}

// err returns nil when nothing was cut.
func (t truncations) err() error {
	if len(t) == 0 {
		return nil
	}
	return WrapSentinel(ErrTruncated, nil, strings.Join(t, "; "))
}

// decodeInfo decodes the guest-info return value.
func decodeInfo(raw json.RawMessage) (Info, error) {
	info := Info{Commands: make(map[string]CommandInfo)}
	var cut truncations
	seenVersion := false
	s := newStream(raw)
	err := s.object(func(key string) error {
		switch key {
		case "version":
			var v *string
			if err := s.value(key, &v); err != nil {
				return err
			}
			if v != nil {
				info.Version, seenVersion = Sanitize(*v, maxFieldRunes), true
			}
			return nil
		case "supported_commands":
			truncated, err := s.array(maxCommands, func(int) error { return decodeCommand(s, info.Commands) })
			if truncated {
				cut.add("more than %d supported commands; the first %d kept", maxCommands, maxCommands)
			}
			return err
		}
		return s.skip()
	})
	if err != nil {
		return Info{}, err
	}
	if !seenVersion {
		return Info{}, errors.New("return value has no version")
	}
	return info, cut.err()
}

// decodeCommand decodes one supported_commands entry into cmds.
func decodeCommand(s *stream, cmds map[string]CommandInfo) error {
	var c struct {
		Name            string `json:"name"`
		Enabled         bool   `json:"enabled"`
		SuccessResponse *bool  `json:"success-response"`
	}
	if err := s.value("supported_commands", &c); err != nil {
		return err
	}
	name := Sanitize(c.Name, maxNameRunes)
	if name == "" {
		return nil
	}
	// success-response is missing before QEMU 1.7; those commands all
	// answered.
	sr := c.SuccessResponse == nil || *c.SuccessResponse
	cmds[name] = CommandInfo{Enabled: c.Enabled, SuccessResponse: sr}
	return nil
}

// decodeOSInfo decodes the guest-get-osinfo return value.
func decodeOSInfo(raw json.RawMessage) (OSInfo, error) {
	var oi OSInfo
	fields := map[string]*string{
		"id": &oi.ID, "name": &oi.Name, "pretty-name": &oi.PrettyName,
		"version": &oi.Version, "version-id": &oi.VersionID,
		"kernel-release": &oi.KernelRelease, "kernel-version": &oi.KernelVersion,
		"machine": &oi.Machine, "variant": &oi.Variant, "variant-id": &oi.VariantID,
	}
	s := newStream(raw)
	err := s.object(func(key string) error {
		dst, ok := fields[key]
		if !ok {
			return s.skip()
		}
		var v string
		if err := s.value(key, &v); err != nil {
			return err
		}
		*dst = Sanitize(v, maxFieldRunes)
		return nil
	})
	if err != nil {
		return OSInfo{}, err
	}
	return oi, nil
}

// decodeInterfaces decodes the guest-network-get-interfaces return value.
// Interfaces without a name and addresses that do not parse are skipped.
func decodeInterfaces(raw json.RawMessage) ([]Interface, error) {
	var ifs []Interface
	var cut truncations
	s := newStream(raw)
	truncated, err := s.array(maxInterfaces, func(int) error {
		ifc, err := decodeInterface(s, &cut)
		if err == nil && ifc.Name != "" {
			ifs = append(ifs, ifc)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if truncated {
		cut.add("more than %d interfaces; the first %d kept", maxInterfaces, maxInterfaces)
	}
	if ifs == nil {
		ifs = []Interface{}
	}
	return ifs, cut.err()
}

// decodeInterface decodes one interface object.
func decodeInterface(s *stream, cut *truncations) (Interface, error) {
	var ifc Interface
	err := s.object(func(key string) error {
		switch key {
		case "name":
			var v string
			if err := s.value(key, &v); err != nil {
				return err
			}
			ifc.Name = Sanitize(v, maxNameRunes)
			return nil
		case "hardware-address":
			var v string
			if err := s.value(key, &v); err != nil {
				return err
			}
			ifc.MAC, _ = ParseMAC(v)
			return nil
		case "ip-addresses":
			truncated, err := s.array(maxAddrs, func(int) error {
				var a struct {
					Addr   string `json:"ip-address"`
					Prefix *int64 `json:"prefix"`
				}
				if err := s.value(key, &a); err != nil {
					return err
				}
				if p, ok := interfacePrefix(a.Addr, a.Prefix); ok {
					ifc.Addrs = append(ifc.Addrs, p)
				}
				return nil
			})
			if truncated {
				cut.add("an interface has more than %d addresses; the first %d kept", maxAddrs, maxAddrs)
			}
			return err
		}
		return s.skip()
	})
	return ifc, err
}

// interfacePrefix parses an interface address and its prefix length. The
// Windows agent may add a zone ("fe80::1%12"); it is dropped.
func interfacePrefix(addr string, prefix *int64) (netip.Prefix, bool) {
	if prefix == nil || len(addr) > 64 {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.WithZone("")
	if *prefix < 0 || *prefix > int64(a.BitLen()) {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, int(*prefix)), true
}

// Route flags from <linux/route.h>.
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// rawRoute is one guest-network-get-route entry as the agent sends it.
type rawRoute struct {
	Iface        string  `json:"iface"`
	Destination  string  `json:"destination"`
	Metric       int64   `json:"metric"`
	Gateway      string  `json:"gateway"`
	Mask         string  `json:"mask"`
	Flags        *uint64 `json:"flags"`
	DesPrefixLen string  `json:"desprefixlen"`
	NextHop      string  `json:"nexthop"`
	Version      int     `json:"version"`
}

// decodeRoutes decodes the guest-network-get-route return value (QEMU 9.1,
// qga/commands-linux.c): for IPv4 "destination", "mask" and "gateway" are
// dotted quads; for IPv6 "destination" and "nexthop" are addresses and
// "desprefixlen" is a decimal string. Routes whose flags say rejecting or
// not up are skipped; a route that does not parse is an error.
func decodeRoutes(raw json.RawMessage) ([]Route, error) {
	routes := []Route{}
	s := newStream(raw)
	truncated, err := s.array(maxRoutes, func(i int) error {
		var rr rawRoute
		if err := s.value("route", &rr); err != nil {
			return err
		}
		rt, ok, err := parseRoute(rr)
		if err != nil {
			return fmt.Errorf("route %d: %w", i, err)
		}
		if ok {
			routes = append(routes, rt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if truncated {
		var cut truncations
		cut.add("more than %d routes; the first %d kept", maxRoutes, maxRoutes)
		return routes, cut.err()
	}
	return routes, nil
}

// parseRoute checks one route; ok is false for routes that are not up or
// that reject.
func parseRoute(rr rawRoute) (rt Route, ok bool, err error) {
	// IPv6 flags arrive sign-extended (read with %x into an int); only the
	// low bits matter.
	if rr.Flags != nil && (*rr.Flags&rtfUp == 0 || *rr.Flags&rtfReject != 0) {
		return Route{}, false, nil
	}
	// QEMU reads the IPv6 metric with %x into an int, so metrics from
	// 0x80000000 up arrive negative.
	metric := rr.Metric
	if metric < 0 && metric >= math.MinInt32 {
		metric += 1 << 32
	}
	if metric < 0 || metric > math.MaxUint32 {
		return Route{}, false, fmt.Errorf("metric %d out of range", rr.Metric)
	}
	rt = Route{Interface: Sanitize(rr.Iface, maxNameRunes), Metric: int(metric)}
	dst, err := parseAddr(rr.Destination)
	if err != nil {
		return Route{}, false, fmt.Errorf("destination: %w", err)
	}
	bits, gw, err := routePrefix(rr, dst)
	if err != nil {
		return Route{}, false, err
	}
	rt.Destination = netip.PrefixFrom(dst, bits).Masked()
	if gw != "" {
		g, err := parseAddr(gw)
		if err != nil || g.BitLen() != dst.BitLen() {
			return Route{}, false, fmt.Errorf("gateway %q is not an address of the route's family", Sanitize(gw, 64))
		}
		if !g.IsUnspecified() {
			if g.Is6() && g.IsLinkLocalUnicast() && rt.Interface != "" {
				g = g.WithZone(rt.Interface)
			}
			rt.Gateway = g
		}
	}
	return rt, true, nil
}

// routePrefix returns a route's prefix length and its next hop text, by
// address family.
func routePrefix(rr rawRoute, dst netip.Addr) (bits int, gw string, err error) {
	switch rr.Version {
	case 4:
		if !dst.Is4() {
			return 0, "", fmt.Errorf("destination %s is not IPv4", dst)
		}
		mask, err := parseAddr(rr.Mask)
		if err != nil || !mask.Is4() {
			return 0, "", fmt.Errorf("mask %q is not an IPv4 address", Sanitize(rr.Mask, 64))
		}
		ones, total := net.IPMask(mask.AsSlice()).Size()
		if total == 0 {
			return 0, "", fmt.Errorf("mask %s is not contiguous", mask)
		}
		return ones, rr.Gateway, nil
	case 6:
		if !dst.Is6() {
			return 0, "", fmt.Errorf("destination %s is not IPv6", dst)
		}
		n, err := strconv.Atoi(rr.DesPrefixLen)
		if err != nil || n < 0 || n > 128 {
			return 0, "", fmt.Errorf("desprefixlen %q is not a prefix length", Sanitize(rr.DesPrefixLen, 64))
		}
		return n, rr.NextHop, nil
	}
	return 0, "", fmt.Errorf("unknown version %d", rr.Version)
}

// parseAddr parses a guest-supplied address without a zone.
func parseAddr(s string) (netip.Addr, error) {
	if len(s) > 64 {
		return netip.Addr{}, errors.New("address too long")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an address", Sanitize(s, 64))
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone", Sanitize(s, 64))
	}
	return a, nil
}
