package osdetect

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
)

// linuxIfaceName is what EvidenceCommand accepts as a Linux interface
// name (IFNAMSIZ is 16 with the NUL).
var linuxIfaceName = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

// procNetARP is the kernel's IPv4 neighbour table.
const procNetARP = "/proc/net/arp"

// atfCom is ATF_COM of <linux/if_arp.h>: the entry is complete.
const atfCom = 0x2

// linuxEvidence is, for an IPv4 gateway, "cat
// /sys/class/net/IF/operstate /sys/class/net/IF/carrier /proc/net/arp"
// (link state and the ARP table in one read), and for an IPv6 gateway
// "ip -6 neigh show dev IF" (iproute2 or busybox; no link state: no
// single program prints both, and /proc has no ND table).
func linuxEvidence(iface string, gw netip.Addr) (guestagent.Command, error) {
	if err := CheckLinuxIface(iface); err != nil {
		return guestagent.Command{}, err
	}
	if gw.Is4() {
		dir := "/sys/class/net/" + iface + "/"
		return guestagent.Command{Path: "cat", Args: []string{dir + "operstate", dir + "carrier", procNetARP}}, nil
	}
	return guestagent.Command{Path: "ip", Args: []string{"-6", "neigh", "show", "dev", iface}}, nil
}

// parseLinuxEvidence reads linuxEvidence's output.
func parseLinuxEvidence(iface string, gw netip.Addr, st guestagent.ExecStatus) (Evidence, error) {
	if st.Signal != nil || st.ExitCode == nil {
		return Evidence{}, fmt.Errorf("%s", exitText(st))
	}
	ls, cut := evidenceLines(st.Stdout, st.StdoutTruncated)
	if gw.Is4() {
		return parseLinuxARP(iface, gw, st, ls, cut)
	}
	return parseLinuxNeigh(iface, gw, st, ls, cut)
}

// parseLinuxARP reads "cat operstate carrier /proc/net/arp". cat prints
// what it could read and exits 1 if a file failed: the carrier of an
// interface that is administratively down cannot be read (EINVAL), and
// neither file exists when the interface does not.
func parseLinuxARP(iface string, gw netip.Addr, st guestagent.ExecStatus, ls []string, cut bool) (Evidence, error) {
	var raw rawParts
	hdr := -1
	for i, l := range ls {
		if strings.HasPrefix(strings.TrimSpace(l), "IP address") {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		raw.add(firstLine(st.Stderr))
		return Evidence{Raw: raw.String()}, fmt.Errorf("cat: no %s table in the output (%s): %s", procNetARP, exitText(st), firstLine(st.Stderr))
	}
	if hdr == 0 && *st.ExitCode != 0 {
		raw.add(firstLine(st.Stderr))
		return Evidence{Raw: raw.String()}, fmt.Errorf("%w: %s cannot be read: %s", ErrNoInterface, guestagent.Sanitize(iface, 32), firstLine(st.Stderr))
	}
	ev := Evidence{Link: linuxLink(ls[:min(hdr, 2)], &raw)}
	ev.Neighbour = NeighbourUnresolved
	if cut {
		ev.Neighbour = NeighbourUnknown
	}
	found := false
	for _, l := range ls[hdr+1:] {
		f := strings.Fields(l)
		if len(f) < 6 || f[5] != iface {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err != nil || a != gw {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		mac, macOK := guestagent.NormalMAC(f[3])
		found = true
		raw.add(l)
		switch {
		case err != nil:
			ev.Neighbour = NeighbourUnknown
		case flags&atfCom != 0 && macOK && !isZeroMAC(mac):
			ev.Neighbour, ev.LLAddr = NeighbourResolved, mac
		default:
			ev.Neighbour = NeighbourUnresolved
		}
		break
	}
	if !found {
		raw.add(fmt.Sprintf("no ARP entry for %s on %s", gw, iface))
	}
	ev.Raw = raw.String()
	return ev, nil
}

// linuxLink reads the operstate and carrier lines cat printed before the
// ARP table: carrier 0 is no carrier; an unreadable carrier (EINVAL) on an
// interface whose operstate is "down" means it is administratively down.
func linuxLink(pre []string, raw *rawParts) LinkState {
	oper, carrier := "", ""
	for _, l := range pre {
		switch t := strings.TrimSpace(l); t {
		case "0", "1":
			carrier = t
		case "up", "down", "unknown", "dormant", "lowerlayerdown", "notpresent", "testing":
			oper = t
		}
	}
	if oper != "" || carrier != "" {
		raw.add(fmt.Sprintf("operstate %s, carrier %s", orDash(oper), orDash(carrier)))
	}
	switch {
	case carrier == "0" || oper == "lowerlayerdown" || oper == "notpresent":
		return LinkNoCarrier
	case carrier == "1" && (oper == "up" || oper == "unknown"):
		return LinkUp
	case carrier == "1" || oper == "down" || oper == "dormant" || oper == "testing":
		return LinkDown
	}
	return LinkUnknown
}

func orDash(s string) string {
	if s == "" {
		return "unreadable"
	}
	return s
}

// parseLinuxNeigh reads "ip -6 neigh show dev IF", iproute2's
//
//	fe80::1 lladdr 52:54:00:12:34:56 router REACHABLE
//	2001:db8::254 FAILED
//
// or busybox's "… lladdr … router ref 1 used 0/0/0 probes 4 REACHABLE".
// The address is printed without a zone; the state is the last word the
// neighbour table knows.
func parseLinuxNeigh(iface string, gw netip.Addr, st guestagent.ExecStatus, ls []string, cut bool) (Evidence, error) {
	var raw rawParts
	if *st.ExitCode != 0 {
		msg := firstLine(st.Stderr)
		raw.add(msg)
		if strings.Contains(strings.ToLower(msg), "find device") {
			return Evidence{Raw: raw.String()}, fmt.Errorf("%w: ip: %s", ErrNoInterface, msg)
		}
		return Evidence{Raw: raw.String()}, fmt.Errorf("ip -6 neigh: %s: %s", exitText(st), msg)
	}
	ev := Evidence{Link: LinkUnknown, Neighbour: NeighbourUnresolved}
	if cut {
		ev.Neighbour = NeighbourUnknown
	}
	target := gw.WithZone("")
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err != nil || a != target {
			continue
		}
		raw.add(l)
		ev.Neighbour, ev.LLAddr = neighRow(f[1:])
		ev.Raw = raw.String()
		return ev, nil
	}
	raw.add(fmt.Sprintf("no neighbour entry for %s on %s", target, iface))
	ev.Raw = raw.String()
	return ev, nil
}

// neighRow reads the fields after the address of an ip neigh row.
func neighRow(f []string) (NeighbourState, string) {
	mac, state := "", NeighbourUnknown
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			mac, _ = guestagent.NormalMAC(f[i+1])
		}
		if s, ok := neighbourWord(w); ok {
			state = s
		}
	}
	switch {
	case state == NeighbourResolved && (mac == "" || isZeroMAC(mac)):
		return NeighbourUnknown, ""
	case state == NeighbourResolved:
		return state, mac
	}
	return state, ""
}

// CheckLinuxIface accepts a Linux interface name read from a guest for a
// path or an argument of a guest command: 1 to 15 of [A-Za-z0-9_.:@-],
// not starting with "-" (an option) and not only dots (a path step).
func CheckLinuxIface(iface string) error {
	if !linuxIfaceName.MatchString(iface) || iface[0] == '-' || strings.Trim(iface, ".") == "" {
		return fmt.Errorf("%q is not a Linux interface name", guestagent.Sanitize(iface, 32))
	}
	return nil
}
