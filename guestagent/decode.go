package guestagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
)

// Caps on what decoders keep from a guest.
const (
	maxCommands   = 1024 // guest-info commands
	maxInterfaces = 1024 // interfaces from guest-network-get-interfaces
	maxAddrs      = 256  // addresses per interface
	maxRoutes     = 8192 // routes from guest-network-get-route
	maxNameRunes  = 64   // interface and command names
	maxFieldRunes = 256  // osinfo fields and versions
)

// decodeInfo decodes the guest-info return value.
func decodeInfo(raw json.RawMessage) (Info, error) {
	var r struct {
		Version  *string `json:"version"`
		Commands []struct {
			Name            string `json:"name"`
			Enabled         bool   `json:"enabled"`
			SuccessResponse *bool  `json:"success-response"`
		} `json:"supported_commands"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return Info{}, fmt.Errorf("malformed return value: %w", err)
	}
	if r.Version == nil {
		return Info{}, errors.New("return value has no version")
	}
	if len(r.Commands) > maxCommands {
		return Info{}, fmt.Errorf("%d supported commands, more than the %d accepted", len(r.Commands), maxCommands)
	}
	info := Info{Version: Sanitize(*r.Version, maxFieldRunes), Commands: make(map[string]CommandInfo, len(r.Commands))}
	for _, cmd := range r.Commands {
		name := Sanitize(cmd.Name, maxNameRunes)
		if name == "" {
			continue
		}
		// success-response is missing before QEMU 1.7; those commands
		// all answered.
		sr := cmd.SuccessResponse == nil || *cmd.SuccessResponse
		info.Commands[name] = CommandInfo{Enabled: cmd.Enabled, SuccessResponse: sr}
	}
	return info, nil
}

// decodeOSInfo decodes the guest-get-osinfo return value.
func decodeOSInfo(raw json.RawMessage) (OSInfo, error) {
	var r struct {
		ID            string `json:"id"`
		Name          string `json:"name"`
		PrettyName    string `json:"pretty-name"`
		Version       string `json:"version"`
		VersionID     string `json:"version-id"`
		KernelRelease string `json:"kernel-release"`
		KernelVersion string `json:"kernel-version"`
		Machine       string `json:"machine"`
		Variant       string `json:"variant"`
		VariantID     string `json:"variant-id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return OSInfo{}, fmt.Errorf("malformed return value: %w", err)
	}
	s := func(v string) string { return Sanitize(v, maxFieldRunes) }
	return OSInfo{
		ID:            s(r.ID),
		Name:          s(r.Name),
		PrettyName:    s(r.PrettyName),
		Version:       s(r.Version),
		VersionID:     s(r.VersionID),
		KernelRelease: s(r.KernelRelease),
		KernelVersion: s(r.KernelVersion),
		Machine:       s(r.Machine),
		Variant:       s(r.Variant),
		VariantID:     s(r.VariantID),
	}, nil
}

// decodeInterfaces decodes the guest-network-get-interfaces return value.
// Interfaces without a name and addresses that do not parse are skipped.
func decodeInterfaces(raw json.RawMessage) ([]Interface, error) {
	var r []struct {
		Name    string `json:"name"`
		HWAddr  string `json:"hardware-address"`
		IPAddrs []struct {
			Type   string `json:"ip-address-type"`
			Addr   string `json:"ip-address"`
			Prefix *int64 `json:"prefix"`
		} `json:"ip-addresses"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("malformed return value: %w", err)
	}
	if len(r) > maxInterfaces {
		return nil, fmt.Errorf("%d interfaces, more than the %d accepted", len(r), maxInterfaces)
	}
	ifs := make([]Interface, 0, len(r))
	for _, ri := range r {
		name := Sanitize(ri.Name, maxNameRunes)
		if name == "" {
			continue
		}
		ifc := Interface{Name: name, MAC: canonicalMAC(ri.HWAddr)}
		for _, ra := range ri.IPAddrs {
			if len(ifc.Addrs) == maxAddrs {
				break
			}
			p, ok := interfacePrefix(ra.Addr, ra.Prefix)
			if !ok {
				continue
			}
			ifc.Addrs = append(ifc.Addrs, p)
		}
		ifs = append(ifs, ifc)
	}
	return ifs, nil
}

// canonicalMAC returns s as a lower-case colon-separated hardware address,
// or "" if it is not one.
func canonicalMAC(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	hw, err := net.ParseMAC(s)
	if err != nil {
		return ""
	}
	return hw.String()
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

// decodeRoutes decodes the guest-network-get-route return value (QEMU 9.1,
// qga/commands-linux.c): for IPv4 "destination", "mask" and "gateway" are
// dotted quads; for IPv6 "destination" and "nexthop" are addresses and
// "desprefixlen" is a decimal string. Routes whose flags say rejecting or
// not up are skipped; a route that does not parse is an error.
func decodeRoutes(raw json.RawMessage) ([]Route, error) {
	var r []struct {
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
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("malformed return value: %w", err)
	}
	if len(r) > maxRoutes {
		return nil, fmt.Errorf("%d routes, more than the %d accepted", len(r), maxRoutes)
	}
	routes := make([]Route, 0, len(r))
	for i, rr := range r {
		// IPv6 flags arrive sign-extended (read with %x into an int);
		// only the low bits matter.
		if rr.Flags != nil && (*rr.Flags&rtfUp == 0 || *rr.Flags&rtfReject != 0) {
			continue
		}
		// QEMU reads the IPv6 metric with %x into an int, so metrics
		// from 0x80000000 up arrive negative.
		metric := rr.Metric
		if metric < 0 && metric >= math.MinInt32 {
			metric += 1 << 32
		}
		if metric < 0 || metric > math.MaxUint32 {
			return nil, fmt.Errorf("route %d: metric %d out of range", i, rr.Metric)
		}
		rt := Route{Interface: Sanitize(rr.Iface, maxNameRunes), Metric: int(metric)}
		dst, err := parseAddr(rr.Destination)
		if err != nil {
			return nil, fmt.Errorf("route %d: destination: %w", i, err)
		}
		var bits int
		var gw string
		switch rr.Version {
		case 4:
			if !dst.Is4() {
				return nil, fmt.Errorf("route %d: destination %s is not IPv4", i, dst)
			}
			mask, err := parseAddr(rr.Mask)
			if err != nil || !mask.Is4() {
				return nil, fmt.Errorf("route %d: mask %q is not an IPv4 address", i, Sanitize(rr.Mask, 64))
			}
			ones, total := net.IPMask(mask.AsSlice()).Size()
			if total == 0 {
				return nil, fmt.Errorf("route %d: mask %s is not contiguous", i, mask)
			}
			bits, gw = ones, rr.Gateway
		case 6:
			if !dst.Is6() {
				return nil, fmt.Errorf("route %d: destination %s is not IPv6", i, dst)
			}
			n, err := strconv.Atoi(rr.DesPrefixLen)
			if err != nil || n < 0 || n > 128 {
				return nil, fmt.Errorf("route %d: desprefixlen %q is not a prefix length", i, Sanitize(rr.DesPrefixLen, 64))
			}
			bits, gw = n, rr.NextHop
		default:
			return nil, fmt.Errorf("route %d: unknown version %d", i, rr.Version)
		}
		rt.Destination = netip.PrefixFrom(dst, bits).Masked()
		if gw != "" {
			g, err := parseAddr(gw)
			if err != nil || g.BitLen() != dst.BitLen() {
				return nil, fmt.Errorf("route %d: gateway %q is not an address of the route's family", i, Sanitize(gw, 64))
			}
			if !g.IsUnspecified() {
				if g.Is6() && g.IsLinkLocalUnicast() && rt.Interface != "" {
					g = g.WithZone(rt.Interface)
				}
				rt.Gateway = g
			}
		}
		routes = append(routes, rt)
	}
	return routes, nil
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
