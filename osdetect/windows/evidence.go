package windows

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// windowsEvidence is the next evidence command of a Windows guest (see
// NextEvidence): "netsh.exe interface ipv4|ipv6 show neighbors
// [interface=IDX]" (every interface when no index is known), whose Type
// column is the entry's state; read again after the kernel's re-check
// when it was Delay, Probe or Incomplete. Neither says anything about
// the link.
func windowsEvidence(iface string, gw netip.Addr, reads []osdetect.EvidenceRead) (osdetect.EvidenceStep, bool, error) {
	cmd, err := windowsNeighCmd(iface, gw)
	if err != nil {
		return osdetect.EvidenceStep{}, false, err
	}
	switch len(reads) {
	case 0:
		return osdetect.EvidenceStep{Command: cmd}, true, nil
	case 1:
	default:
		return osdetect.EvidenceStep{}, false, nil // read twice at most
	}
	ev, err := parseWindowsNeigh(gw, reads[0])
	if err != nil || !ev.State.Pending() {
		return osdetect.EvidenceStep{}, false, nil
	}
	return osdetect.EvidenceStep{Command: cmd, NotBefore: ev.State.Settle()}, true, nil
}

// windowsNeighCmd is "netsh.exe interface ipv4|ipv6 show neighbors
// [interface=IDX]".
func windowsNeighCmd(iface string, gw netip.Addr) (guestagent.Command, error) {
	fam := "ipv6"
	if gw.Is4() {
		fam = "ipv4"
	}
	cmd := guestagent.Command{Path: "netsh.exe", Args: []string{"interface", fam, "show", "neighbors"}}
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

// parseWindowsEvidence reads the reads of windowsEvidence's commands.
func parseWindowsEvidence(_ string, gw netip.Addr, reads []osdetect.EvidenceRead) (osdetect.Evidence, error) {
	ev0, err := parseWindowsNeigh(gw, reads[0])
	if err != nil {
		return ev0, err
	}
	if len(reads) < 2 || !ev0.State.Pending() {
		return osdetect.SeenOnce(ev0), nil
	}
	ev1, err := parseWindowsNeigh(gw, reads[1])
	if err != nil {
		return osdetect.WithRaw(osdetect.SeenOnce(ev0), ev0.Raw, ev1.Raw), nil
	}
	return osdetect.WithRaw(osdetect.Recheck(ev0, ev1, reads[1].Since), ev0.Raw, ev1.Raw), nil
}

// parseWindowsNeigh reads one read of netsh's
//
//	Internet Address                              Physical Address   Type
//	--------------------------------------------  -----------------  -----------
//	fe80::1                                       52-54-00-12-34-56  Reachable (Router)
//	fe80::216:eaff:fef5:dac4                      Unreachable        Unreachable
//
// (arp.exe's rows, "192.0.2.1  52-54-00-12-34-56  dynamic", read alike)
// by their rows, not their headings, which are localised and in an OEM
// code page: a row is an address, a link-layer address (or a word in its
// place), and a state or type word looked up in a small multilingual
// table. An all-zero link-layer address is unresolved whatever the word;
// a word the table does not know leaves a resolved-looking row
// NeighbourUnknown. With every interface listed, a resolved row for the
// gateway wins over others.
func parseWindowsNeigh(gw netip.Addr, r osdetect.EvidenceRead) (osdetect.Evidence, error) {
	st, err := r.Exited()
	if err != nil {
		return osdetect.Evidence{Raw: guestagent.Sanitize(err.Error(), osdetect.MaxEvidenceRawRunes)}, err
	}
	ls, cut := osdetect.EvidenceLines(st.Stdout, st.StdoutTruncated)
	target := gw.WithZone("")
	var raw osdetect.RawParts
	ev := osdetect.Evidence{Link: osdetect.LinkUnknown}
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
		if a.WithZone("") != target || ev.Neighbour == osdetect.NeighbourResolved {
			continue
		}
		state, nud, mac := windowsRow(f[1:])
		if !found || state == osdetect.NeighbourResolved {
			ev.Neighbour, ev.State, ev.LLAddr = state, nud, mac
			raw = osdetect.RawParts{}
			raw.Add(l)
		}
		found = true
	}
	switch {
	case found:
	case rows == 0 && *st.ExitCode != 0:
		msg := osdetect.FirstLine(st.Stdout)
		if msg == "" {
			msg = osdetect.FirstLine(st.Stderr)
		}
		raw.Add(msg)
		return osdetect.Evidence{Raw: raw.String()}, fmt.Errorf("%s: %s", osdetect.ExitText(st), msg)
	case cut:
		ev.Neighbour, ev.State = osdetect.NeighbourUnknown, osdetect.NUDUnknown
		raw.Add(fmt.Sprintf("no neighbour entry for %s in the part read", target))
	default:
		ev.Neighbour, ev.State = osdetect.NeighbourUnresolved, osdetect.NUDNone
		raw.Add(fmt.Sprintf("no neighbour entry for %s", target))
	}
	ev.Raw = raw.String()
	return ev, nil
}

// windowsRow reads the fields after the address of an arp.exe or netsh
// row: a MAC with hyphens (or a word where netsh has none), then the type
// or state.
func windowsRow(f []string) (osdetect.NeighbourState, osdetect.NUDState, string) {
	mac, ok := guestagent.NormalMAC(f[0])
	if ok {
		f = f[1:]
	}
	known := false
	w := osdetect.NUDWord{NUD: osdetect.NUDUnknown, Neighbour: osdetect.NeighbourUnknown}
	if len(f) > 0 {
		w, known = osdetect.NeighbourWord(f[0])
	}
	switch {
	case !ok && known && w.Neighbour == osdetect.NeighbourResolved:
		// "ff02::2  Permanent": a state without a link-layer address.
		return osdetect.NeighbourUnknown, w.NUD, ""
	case !ok || osdetect.IsZeroMAC(mac):
		// netsh prints "Unreachable" or nothing in place of the MAC,
		// arp.exe 00-00-00-00-00-00 with "invalid".
		if known && w.Neighbour == osdetect.NeighbourUnresolved {
			return osdetect.NeighbourUnresolved, w.NUD, ""
		}
		return osdetect.NeighbourUnresolved, osdetect.NUDUnknown, ""
	case known:
		return w.Neighbour, w.NUD, mac
	}
	return osdetect.NeighbourUnknown, osdetect.NUDUnknown, ""
}
