package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// linuxIfaceName is what NextEvidence accepts as a Linux interface
// name (IFNAMSIZ is 16 with the NUL).
var linuxIfaceName = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

// procNetARP is the kernel's IPv4 neighbour table.
const procNetARP = "/proc/net/arp"

// atfCom is ATF_COM of <linux/if_arp.h>: the entry is complete.
const atfCom = 0x2

// linuxStep is the second evidence command of a Linux guest.
type linuxStep int

const (
	linuxDone       linuxStep = iota // nothing more to read
	linuxNeighAgain                  // ip neigh again, after the kernel's re-check
	linuxNeighStats                  // ip -s neigh: when the entry was confirmed
	linuxLinkRead                    // cat operstate carrier [/proc/net/arp]
	linuxARPing                      // arping: a fresh ARP answer (busybox ip, IPv4)
)

// linuxEvidence is the next evidence command of a Linux guest (see
// NextEvidence): first "ip -4|-6 neigh show dev IF" (iproute2 and busybox
// print the entry's NUD state), then what its answer calls for.
func linuxEvidence(iface string, gw netip.Addr, reads []osdetect.EvidenceRead) (osdetect.EvidenceStep, bool, error) {
	if err := CheckLinuxIface(iface); err != nil {
		return osdetect.EvidenceStep{}, false, err
	}
	if len(reads) == 0 {
		return osdetect.EvidenceStep{Command: linuxNeighCmd(iface, gw, false)}, true, nil
	}
	if len(reads) == 2 {
		if _, stale := linuxConfirmedBefore(iface, gw, reads); stale && gw.Is4() {
			return osdetect.EvidenceStep{Command: linuxARPingCmd(iface, gw)}, true, nil
		}
		return osdetect.EvidenceStep{}, false, nil
	}
	step, wait := linuxNext(iface, gw, reads[0])
	switch step {
	case linuxNeighAgain:
		return osdetect.EvidenceStep{Command: linuxNeighCmd(iface, gw, false), NotBefore: wait}, true, nil
	case linuxNeighStats:
		return osdetect.EvidenceStep{Command: linuxNeighCmd(iface, gw, true)}, true, nil
	case linuxLinkRead:
		return osdetect.EvidenceStep{Command: linuxLinkCmd(iface, gw)}, true, nil
	case linuxARPing:
		return osdetect.EvidenceStep{Command: linuxARPingCmd(iface, gw)}, true, nil
	}
	return osdetect.EvidenceStep{}, false, nil
}

// linuxNeighCmd is "ip [-s] -4|-6 neigh show dev IF".
func linuxNeighCmd(iface string, gw netip.Addr, stats bool) guestagent.Command {
	var args []string
	if stats {
		args = append(args, "-s")
	}
	fam := "-4"
	if gw.Is6() {
		fam = "-6"
	}
	return guestagent.Command{Path: "ip", Args: append(args, fam, "neigh", "show", "dev", iface)}
}

// linuxLinkCmd is "cat /sys/class/net/IF/operstate
// /sys/class/net/IF/carrier", with /proc/net/arp for an IPv4 gateway (the
// table's flags tell resolved or not when ip could not run).
func linuxLinkCmd(iface string, gw netip.Addr) guestagent.Command {
	dir := "/sys/class/net/" + iface + "/"
	args := []string{dir + "operstate", dir + "carrier"}
	if gw.Is4() {
		args = append(args, procNetARP)
	}
	return guestagent.Command{Path: "cat", Args: args}
}

// linuxNext decides the second command from the first read: a pending
// entry is read again once the kernel has re-checked it, a REACHABLE one
// of iproute2 with -s; busybox ip prints no confirmation time, so the
// gateway of a REACHABLE IPv4 entry is asked afresh with arping (busybox
// has no IPv6 counterpart: nothing more to learn, and a REACHABLE entry
// means the link is up); anything else, or a failed ip, with the link
// state.
func linuxNext(iface string, gw netip.Addr, r0 osdetect.EvidenceRead) (linuxStep, time.Duration) {
	ev, row, err := parseLinuxNeigh(iface, gw, r0)
	switch {
	case errors.Is(err, osdetect.ErrNoInterface):
		return linuxDone, 0
	case err != nil:
		return linuxLinkRead, 0
	case ev.State.Pending():
		return linuxNeighAgain, ev.State.Settle()
	case ev.State == osdetect.NUDReachable && !row.busybox:
		return linuxNeighStats, 0
	case ev.State == osdetect.NUDReachable && gw.Is4() && ev.Neighbour == osdetect.NeighbourResolved:
		return linuxARPing, 0
	case ev.State == osdetect.NUDReachable:
		return linuxDone, 0
	}
	return linuxLinkRead, 0
}

// parseLinuxEvidence reads the reads of linuxEvidence's commands.
func parseLinuxEvidence(iface string, gw netip.Addr, reads []osdetect.EvidenceRead) (osdetect.Evidence, error) {
	ev0, _, err0 := parseLinuxNeigh(iface, gw, reads[0])
	if errors.Is(err0, osdetect.ErrNoInterface) {
		return ev0, err0
	}
	step, _ := linuxNext(iface, gw, reads[0])
	if len(reads) < 2 || step == linuxDone {
		if err0 != nil {
			return ev0, err0
		}
		return osdetect.SeenOnce(ev0), nil
	}
	r1 := reads[1]
	switch step {
	case linuxNeighAgain:
		ev1, _, err := parseLinuxNeigh(iface, gw, r1)
		if err != nil {
			return osdetect.WithRaw(osdetect.SeenOnce(ev0), ev0.Raw, ev1.Raw), nil
		}
		return osdetect.WithRaw(osdetect.Recheck(ev0, ev1, r1.Since), ev0.Raw, ev1.Raw), nil
	case linuxNeighStats:
		ev1, row, err := parseLinuxNeigh(iface, gw, r1)
		if err != nil || ev1.State != osdetect.NUDReachable || !row.hasUsed {
			ev := ev0
			if err == nil {
				ev = ev1
			}
			return osdetect.WithRaw(osdetect.SeenOnce(ev), ev1.Raw), nil
		}
		ev := osdetect.WithRaw(confirmedAt(ev1, row.confirmed, r1.Since), ev1.Raw)
		if len(reads) > 2 && !ev.Fresh {
			entry := fmt.Sprintf("REACHABLE, last confirmed %d s before the read (before the failed ping)", row.confirmed)
			return arpingResult(ev, entry, gw, reads[2]), nil
		}
		return ev, nil
	case linuxARPing:
		return arpingResult(ev0, "REACHABLE with no confirmation time (busybox ip)", gw, r1), nil
	}
	link, err := parseLinuxLink(iface, gw, r1)
	if err0 != nil {
		// ip failed: the ARP table's flags are all there is.
		link = osdetect.SeenOnce(link)
		link.Seen = "ip neigh failed; " + link.Seen
		return osdetect.WithRaw(link, ev0.Raw, link.Raw), err
	}
	ev := osdetect.SeenOnce(ev0)
	ev.Link = link.Link
	return osdetect.WithRaw(ev, ev0.Raw, link.Raw), nil
}

// linuxConfirmedBefore reports, from the first two reads, whether they
// were "ip neigh" and "ip -s neigh" and the second showed the entry
// REACHABLE but confirmed before the failed ping: then arping asks the
// gateway afresh (the third command).
func linuxConfirmedBefore(iface string, gw netip.Addr, reads []osdetect.EvidenceRead) (osdetect.Evidence, bool) {
	if step, _ := linuxNext(iface, gw, reads[0]); step != linuxNeighStats {
		return osdetect.Evidence{}, false
	}
	ev1, row, err := parseLinuxNeigh(iface, gw, reads[1])
	if err != nil || ev1.State != osdetect.NUDReachable || !row.hasUsed || ev1.Neighbour != osdetect.NeighbourResolved {
		return osdetect.Evidence{}, false
	}
	ev := confirmedAt(ev1, row.confirmed, reads[1].Since)
	return ev, !ev.Fresh
}

// confirmedAt judges a REACHABLE entry that iproute2 says was confirmed
// secs seconds before the read, which started since after the ping: fresh
// only if that is not before the ping. iproute2 prints whole seconds,
// rounded down: the confirmation may be up to secs+1 s old.
func confirmedAt(ev osdetect.Evidence, secs int64, since time.Duration) osdetect.Evidence {
	if time.Duration(secs+1)*time.Second > since {
		ev.Fresh = false
		ev.Seen = fmt.Sprintf("REACHABLE, but last confirmed %d s before the read, before the failed ping (at most %d s before it): not an answer to this check", secs, int64(since.Seconds()))
		return ev
	}
	ev.Fresh = true
	ev.Seen = fmt.Sprintf("REACHABLE, confirmed %d s before the read: during this check", secs)
	return ev
}

// parseLinuxLink reads linuxLinkCmd's output. cat prints what it could
// read and exits 1 if a file failed: the carrier of an interface that is
// administratively down cannot be read (EINVAL), and neither file exists
// when the interface does not. For an IPv4 gateway the ARP table follows;
// its flags say resolved (ATF_COM) or not, never the NUD state.
func parseLinuxLink(iface string, gw netip.Addr, r osdetect.EvidenceRead) (osdetect.Evidence, error) {
	var raw osdetect.RawParts
	st, err := r.Exited()
	if err != nil {
		raw.Add(err.Error())
		return osdetect.Evidence{Raw: raw.String()}, err
	}
	ls, cut := osdetect.EvidenceLines(st.Stdout, st.StdoutTruncated)
	hdr := len(ls)
	if gw.Is4() {
		hdr = -1
		for i, l := range ls {
			if strings.HasPrefix(strings.TrimSpace(l), "IP address") {
				hdr = i
				break
			}
		}
		if hdr < 0 {
			raw.Add(osdetect.FirstLine(st.Stderr))
			return osdetect.Evidence{Raw: raw.String()}, fmt.Errorf("cat: no %s table in the output (%s): %s", procNetARP, osdetect.ExitText(st), osdetect.FirstLine(st.Stderr))
		}
	}
	if strings.TrimSpace(strings.Join(ls[:hdr], "")) == "" && *st.ExitCode != 0 {
		raw.Add(osdetect.FirstLine(st.Stderr))
		return osdetect.Evidence{Raw: raw.String()}, fmt.Errorf("%w: %s cannot be read: %s", osdetect.ErrNoInterface, guestagent.Sanitize(iface, 32), osdetect.FirstLine(st.Stderr))
	}
	ev := osdetect.Evidence{Link: linuxLink(ls[:min(hdr, 2)], &raw)}
	if gw.Is4() {
		ev = linuxARPEntry(iface, gw, ls[hdr+1:], cut, ev, &raw)
	}
	ev.Raw = raw.String()
	return ev, nil
}

// linuxARPEntry finds gw's row on iface in the rows of /proc/net/arp.
func linuxARPEntry(iface string, gw netip.Addr, rows []string, cut bool, ev osdetect.Evidence, raw *osdetect.RawParts) osdetect.Evidence {
	ev.Neighbour, ev.State = osdetect.NeighbourUnresolved, osdetect.NUDNone
	if cut {
		ev.Neighbour, ev.State = osdetect.NeighbourUnknown, osdetect.NUDUnknown
	}
	for _, l := range rows {
		f := strings.Fields(l)
		if len(f) < 6 || f[5] != iface {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err != nil || a != gw {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		mac, macOK := guestagent.NormalMAC(f[3])
		raw.Add(l)
		ev.State = osdetect.NUDUnknown
		switch {
		case err != nil:
			ev.Neighbour = osdetect.NeighbourUnknown
		case flags&atfCom != 0 && macOK && !osdetect.IsZeroMAC(mac):
			ev.Neighbour, ev.LLAddr = osdetect.NeighbourResolved, mac
		default:
			ev.Neighbour = osdetect.NeighbourUnresolved
		}
		return ev
	}
	raw.Add(fmt.Sprintf("no ARP entry for %s on %s", gw, iface))
	return ev
}

// linuxLink reads the operstate and carrier lines cat printed before the
// ARP table: carrier 0 is no carrier; an unreadable carrier (EINVAL) on an
// interface whose operstate is "down" means it is administratively down.
func linuxLink(pre []string, raw *osdetect.RawParts) osdetect.LinkState {
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
		raw.Add(fmt.Sprintf("operstate %s, carrier %s", orDash(oper), orDash(carrier)))
	}
	switch {
	case carrier == "0" || oper == "lowerlayerdown" || oper == "notpresent":
		return osdetect.LinkNoCarrier
	case carrier == "1" && (oper == "up" || oper == "unknown"):
		return osdetect.LinkUp
	case carrier == "1" || oper == "down" || oper == "dormant" || oper == "testing":
		return osdetect.LinkDown
	}
	return osdetect.LinkUnknown
}

func orDash(s string) string {
	if s == "" {
		return "unreadable"
	}
	return s
}

// neighRow is what a row of ip neigh says besides its state.
type neighRow struct {
	busybox   bool  // the row has "used" without -s: busybox ip, whose times are always 0
	hasUsed   bool  // the row has "used A/B/C"
	confirmed int64 // B of "used A/B/C": seconds since the entry was last confirmed
}

// parseLinuxNeigh reads "ip [-s] -4|-6 neigh show dev IF", iproute2's
//
//	fe80::1 lladdr 52:54:00:12:34:56 router REACHABLE
//	192.0.2.1 lladdr 52:54:00:12:34:56 ref 1 used 37/33/37probes 1 REACHABLE   (-s)
//	2001:db8::254 FAILED
//
// or busybox's, which always prints "used 0/0/0 probes 4" (it divides the
// kernel's clock ticks by the wrong clock rate) and accepts no -s. The
// address is printed without a zone; the state is the last word the
// neighbour table knows.
func parseLinuxNeigh(iface string, gw netip.Addr, r osdetect.EvidenceRead) (osdetect.Evidence, neighRow, error) {
	var raw osdetect.RawParts
	st, err := r.Exited()
	if err != nil {
		raw.Add("ip: " + err.Error())
		return osdetect.Evidence{Raw: raw.String()}, neighRow{}, fmt.Errorf("ip neigh: %w", err)
	}
	if *st.ExitCode != 0 {
		msg := osdetect.FirstLine(st.Stderr)
		raw.Add(msg)
		if strings.Contains(strings.ToLower(msg), "find device") {
			return osdetect.Evidence{Raw: raw.String()}, neighRow{}, fmt.Errorf("%w: ip: %s", osdetect.ErrNoInterface, msg)
		}
		return osdetect.Evidence{Raw: raw.String()}, neighRow{}, fmt.Errorf("ip neigh: %s: %s", osdetect.ExitText(st), msg)
	}
	ls, cut := osdetect.EvidenceLines(st.Stdout, st.StdoutTruncated)
	ev := osdetect.Evidence{Link: osdetect.LinkUnknown, Neighbour: osdetect.NeighbourUnresolved, State: osdetect.NUDNone}
	if cut {
		ev.Neighbour, ev.State = osdetect.NeighbourUnknown, osdetect.NUDUnknown
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
		raw.Add(l)
		var row neighRow
		ev.Neighbour, ev.State, ev.LLAddr, row = readNeighRow(f[1:])
		ev.Raw = raw.String()
		return ev, row, nil
	}
	raw.Add(fmt.Sprintf("no neighbour entry for %s on %s", target, iface))
	ev.Raw = raw.String()
	return ev, neighRow{}, nil
}

// readNeighRow reads the fields after the address of an ip neigh row.
func readNeighRow(f []string) (osdetect.NeighbourState, osdetect.NUDState, string, neighRow) {
	mac, w := "", osdetect.NUDWord{NUD: osdetect.NUDUnknown, Neighbour: osdetect.NeighbourUnknown}
	var row neighRow
	for i, x := range f {
		if x == "lladdr" && i+1 < len(f) {
			mac, _ = guestagent.NormalMAC(f[i+1])
		}
		if x == "used" && i+1 < len(f) {
			row.hasUsed, row.confirmed = usedConfirmed(f[i+1])
		}
		if s, ok := osdetect.NeighbourWord(x); ok {
			w = s
		}
	}
	// iproute2 prints "used" only with -s, which linuxEvidence passes only
	// after a row without it: a row of the first read with "used" is
	// busybox's.
	row.busybox = row.hasUsed
	switch {
	case w.Neighbour == osdetect.NeighbourResolved && (mac == "" || osdetect.IsZeroMAC(mac)):
		return osdetect.NeighbourUnknown, w.NUD, "", row
	case w.Neighbour == osdetect.NeighbourResolved:
		return w.Neighbour, w.NUD, mac, row
	}
	return w.Neighbour, w.NUD, "", row
}

// usedConfirmed reads B of "A/B/C" (iproute2 may glue "probes" to C).
func usedConfirmed(s string) (bool, int64) {
	parts := strings.SplitN(s, "/", 3)
	if len(parts) < 3 {
		return false, 0
	}
	b, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || b < 0 {
		return false, 0
	}
	return true, b
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
