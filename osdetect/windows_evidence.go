package osdetect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
)

// windowsEvidence is, for an IPv4 gateway, "arp.exe -a -N IFADDR" (the ARP
// table of the interface with that IPv4 address; "arp.exe -a", every
// interface, when iface is empty), and for an IPv6 gateway "netsh.exe
// interface ipv6 show neighbors interface=IDX" (every interface when no
// index is known). Neither says anything about the link.
func windowsEvidence(iface string, gw netip.Addr) (guestagent.Command, error) {
	if gw.Is4() {
		cmd := guestagent.Command{Path: "arp.exe", Args: []string{"-a"}}
		if iface == "" {
			return cmd, nil
		}
		a, err := netip.ParseAddr(iface)
		if err != nil || !a.Unmap().Is4() || a.IsUnspecified() || a.Zone() != "" {
			return guestagent.Command{}, fmt.Errorf("%q is not the IPv4 address of a Windows interface", guestagent.Sanitize(iface, 32))
		}
		cmd.Args = append(cmd.Args, "-N", a.Unmap().String())
		return cmd, nil
	}
	cmd := guestagent.Command{Path: "netsh.exe", Args: []string{"interface", "ipv6", "show", "neighbors"}}
	idx := iface
	if idx == "" {
		idx = gw.Zone()
	}
	if idx == "" {
		return cmd, nil
	}
	n, err := strconv.ParseUint(idx, 10, 32)
	if err != nil || n == 0 {
		if iface == "" {
			return cmd, nil // a zone that is not an index: read every interface
		}
		return guestagent.Command{}, fmt.Errorf("%q is not a Windows interface index", guestagent.Sanitize(iface, 32))
	}
	cmd.Args = append(cmd.Args, "interface="+strconv.FormatUint(n, 10))
	return cmd, nil
}

// parseWindowsEvidence reads arp.exe's
//
//	Interface: 192.0.2.13 --- 0xb
//	  Internet Address      Physical Address      Type
//	  192.0.2.1             52-54-00-12-34-56     dynamic
//
// and netsh's
//
//	Internet Address                              Physical Address   Type
//	--------------------------------------------  -----------------  -----------
//	fe80::1                                       52-54-00-12-34-56  Reachable (Router)
//	fe80::216:eaff:fef5:dac4                      Unreachable        Unreachable
//
// by their rows, not their headings, which are localised and in an OEM
// code page: a row is an address, a link-layer address (or a word in its
// place), and a state or type word looked up in a small multilingual
// table. An all-zero link-layer address is unresolved whatever the word;
// a word the table does not know leaves a resolved-looking row
// NeighbourUnknown. With every interface listed, a resolved row for the
// gateway wins over others.
func parseWindowsEvidence(_ string, gw netip.Addr, st guestagent.ExecStatus) (Evidence, error) {
	if st.Signal != nil || st.ExitCode == nil {
		return Evidence{}, fmt.Errorf("%s", exitText(st))
	}
	ls, cut := evidenceLines(st.Stdout, st.StdoutTruncated)
	target := gw.WithZone("")
	var raw rawParts
	ev := Evidence{Link: LinkUnknown}
	rows, found := 0, false
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		rows++
		if a.WithZone("") != target || ev.Neighbour == NeighbourResolved {
			continue
		}
		state, mac := windowsRow(f[1:])
		if !found || state == NeighbourResolved {
			ev.Neighbour, ev.LLAddr = state, mac
			raw = rawParts{}
			raw.add(l)
		}
		found = true
	}
	switch {
	case found:
	case rows == 0 && *st.ExitCode != 0:
		msg := firstLine(st.Stdout)
		if msg == "" {
			msg = firstLine(st.Stderr)
		}
		raw.add(msg)
		return Evidence{Raw: raw.String()}, fmt.Errorf("%s: %s", exitText(st), msg)
	case cut:
		ev.Neighbour = NeighbourUnknown
		raw.add(fmt.Sprintf("no neighbour entry for %s in the part read", target))
	default:
		ev.Neighbour = NeighbourUnresolved
		raw.add(fmt.Sprintf("no neighbour entry for %s", target))
	}
	ev.Raw = raw.String()
	return ev, nil
}

// windowsRow reads the fields after the address of an arp.exe or netsh
// row: a MAC with hyphens (or a word where netsh has none), then the type
// or state.
func windowsRow(f []string) (NeighbourState, string) {
	mac, ok := guestagent.NormalMAC(f[0])
	if ok {
		f = f[1:]
	}
	known := false
	state := NeighbourUnknown
	if len(f) > 0 {
		state, known = neighbourWord(f[0])
	}
	switch {
	case !ok && known && state == NeighbourResolved:
		// "ff02::2  Permanent": a state without a link-layer address.
		return NeighbourUnknown, ""
	case !ok || isZeroMAC(mac):
		// netsh prints "Unreachable" or nothing in place of the MAC,
		// arp.exe 00-00-00-00-00-00 with "invalid".
		return NeighbourUnresolved, ""
	case known:
		return state, mac
	}
	return NeighbourUnknown, ""
}
