package osdetect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/guestagent"
)

// LinkState is what a guest says about the link of one of its interfaces.
type LinkState string

// Link states of an Evidence.
const (
	LinkUnknown   LinkState = "unknown"    // not read, or not readable with the one command
	LinkUp        LinkState = "up"         // administratively up, with carrier
	LinkDown      LinkState = "down"       // administratively down (or dormant, testing)
	LinkNoCarrier LinkState = "no-carrier" // up, but the link has no carrier
)

// NeighbourState is what a guest's neighbour table (ARP for IPv4, ND for
// IPv6) says about the gateway.
type NeighbourState string

// Neighbour states of an Evidence.
const (
	// NeighbourUnknown: the table could not be read or read in full, or
	// the entry's state word is not one osdetect knows.
	NeighbourUnknown NeighbourState = "unknown"
	// NeighbourResolved: the entry has a link-layer address (reachable,
	// stale, delay, probe, permanent; on Windows also dynamic, static).
	NeighbourResolved NeighbourState = "resolved"
	// NeighbourUnresolved: the entry is incomplete or failed, or there is
	// no entry for the gateway on the interface.
	NeighbourUnresolved NeighbourState = "unresolved"
)

// Evidence is what the guest says about one NIC after a failed check.
type Evidence struct {
	Link      LinkState
	Neighbour NeighbourState // of the gateway, on the interface
	LLAddr    string         // the gateway's link-layer address when resolved, in guestagent.NormalMAC form
	Raw       string         // a short sanitised excerpt of what was read, at most MaxEvidenceRawRunes runes
}

// ErrNoInterface is wrapped by ParseEvidence's error when the guest's own
// output says the interface does not exist.
var ErrNoInterface = errors.New("the guest has no such interface")

// Limits of EvidenceCommand's output and of Evidence.Raw.
const (
	// EvidenceOutputLimit is the most the caller should keep of each
	// output stream of an EvidenceCommand (the limit of
	// guestagent.Client.Wait); a neighbour table longer than that is read
	// in part, and a gateway not found in the part is NeighbourUnknown.
	EvidenceOutputLimit = 256 << 10
	// MaxEvidenceRawRunes caps Evidence.Raw.
	MaxEvidenceRawRunes = 300
	// maxEvidenceLines is how many lines of output a parser looks at.
	maxEvidenceLines = 8192
	// maxEvidenceLineLen: longer lines are no table row and are skipped
	// (a row of /proc/net/arp is 80 bytes).
	maxEvidenceLineLen = 1024
)

// EvidenceCommand returns the one guest command that tells, for a guest of
// family f, the link state of interface iface and the state of the
// gateway gw in the guest's neighbour table:
//
//	Linux, IPv4:   cat /sys/class/net/IF/operstate /sys/class/net/IF/carrier /proc/net/arp
//	Linux, IPv6:   ip -6 neigh show dev IF
//	Windows, IPv4: arp.exe -a -N IFADDR
//	Windows, IPv6: netsh.exe interface ipv6 show neighbors interface=IDX
//
// iface identifies the interface the family's way: on Linux its name
// ([A-Za-z0-9_.:@-]{1,15}, not starting with "-" or a dot-only name); on
// Windows, for an IPv4 gateway, the interface's IPv4 address, and for an
// IPv6 gateway its interface index. On Windows an empty iface reads the
// tables of every interface ("arp.exe -a", or for IPv6 the zone of a
// link-local gw when it is an index, else all interfaces). gw must pass
// ValidateTarget; an IPv4-mapped gw is taken as IPv4. Everything in the
// argv is re-formatted by osdetect (addresses by net/netip, indexes by
// strconv), never copied from iface. The command captures its output;
// wait for it with a limit of EvidenceOutputLimit.
func EvidenceCommand(f Family, iface string, gw netip.Addr) (guestagent.Command, error) {
	gw = gw.Unmap()
	if err := ValidateTarget(gw); err != nil {
		return guestagent.Command{}, fmt.Errorf("evidence: gateway: %w", err)
	}
	fam, ok := families[f]
	if !ok || fam.evidence == nil {
		return guestagent.Command{}, fmt.Errorf("evidence: no neighbour command for OS family %q", f)
	}
	cmd, err := fam.evidence(iface, gw)
	if err != nil {
		return guestagent.Command{}, fmt.Errorf("evidence: %w", err)
	}
	cmd.CaptureOutput = true
	return cmd, nil
}

// ParseEvidence reads the ExecStatus of the EvidenceCommand(f, iface, gw)
// that has exited. It returns an error when the output tells nothing
// (the program is missing or failed without printing a table); the error
// wraps ErrNoInterface when the output says the interface does not exist.
// An Evidence returned with an error may still carry Raw. Every string in
// it is sanitised; the parse is linear in the output and looks at no more
// than 8192 lines.
func ParseEvidence(f Family, iface string, gw netip.Addr, st guestagent.ExecStatus) (Evidence, error) {
	gw = gw.Unmap()
	ev := Evidence{Link: LinkUnknown, Neighbour: NeighbourUnknown}
	if !st.Exited {
		return ev, errors.New("evidence: the command has not finished")
	}
	fam, ok := families[f]
	if !ok || fam.parseEvidence == nil {
		return ev, fmt.Errorf("evidence: cannot read neighbour output of OS family %q", f)
	}
	ev, err := fam.parseEvidence(iface, gw, st)
	ev.Raw = guestagent.Sanitize(ev.Raw, MaxEvidenceRawRunes)
	if ev.Link == "" {
		ev.Link = LinkUnknown
	}
	if ev.Neighbour == "" {
		ev.Neighbour = NeighbourUnknown
	}
	if ev.Neighbour != NeighbourResolved {
		ev.LLAddr = ""
	}
	if err != nil {
		return ev, fmt.Errorf("evidence: %w", err)
	}
	return ev, nil
}

// evidenceLines splits output into at most maxEvidenceLines lines, and
// blanks those longer than maxEvidenceLineLen so that no parser splits
// them into fields. cut reports whether lines were dropped at the end or
// the agent cut the output.
func evidenceLines(out []byte, truncated bool) (ls []string, cut bool) {
	ls = splitLines(out, maxEvidenceLines)
	for i, l := range ls {
		if len(l) > maxEvidenceLineLen {
			ls[i] = ""
		}
	}
	return ls, truncated || len(ls) == maxEvidenceLines
}

// rawParts joins the parts of an Evidence.Raw, each sanitised, and stops
// once the excerpt is full.
type rawParts struct {
	parts []string
	runes int
}

func (r *rawParts) add(s string) {
	if r.runes >= MaxEvidenceRawRunes {
		return
	}
	s = guestagent.Sanitize(s, MaxEvidenceRawRunes)
	if s == "" {
		return
	}
	r.parts = append(r.parts, s)
	r.runes += utf8.RuneCountInString(s) + 3
}

func (r *rawParts) String() string { return strings.Join(r.parts, " | ") }

// neighbourWords maps the state or type word of a neighbour row, lower
// case, to what it says. English: iproute2 and busybox ip (NUD states),
// netsh (Reachable, Stale, …) and arp.exe (dynamic, static, invalid);
// German, French and Russian arp.exe types. A word not listed is unknown.
var neighbourWords = map[string]NeighbourState{
	"reachable": NeighbourResolved, "stale": NeighbourResolved, "delay": NeighbourResolved,
	"probe": NeighbourResolved, "permanent": NeighbourResolved, "noarp": NeighbourResolved,
	"dynamic": NeighbourResolved, "static": NeighbourResolved,
	"incomplete": NeighbourUnresolved, "failed": NeighbourUnresolved, "none": NeighbourUnresolved,
	"unreachable": NeighbourUnresolved, "invalid": NeighbourUnresolved,
	// arp.exe, German, French, Russian.
	"dynamisch": NeighbourResolved, "statisch": NeighbourResolved, "ungültig": NeighbourUnresolved,
	"dynamique": NeighbourResolved, "statique": NeighbourResolved,
	"динамический": NeighbourResolved, "статический": NeighbourResolved, "недопустимый": NeighbourUnresolved,
}

// neighbourWord looks a state word up in neighbourWords. The word may be
// UTF-8, or in an OEM code page: bytes that are not UTF-8 are read as
// CP866 Cyrillic (Russian) or, failing that, CP850 (Western European).
func neighbourWord(w string) (NeighbourState, bool) {
	if len(w) > 64 {
		return NeighbourUnknown, false
	}
	if st, ok := neighbourWords[strings.ToLower(w)]; ok {
		return st, true
	}
	if utf8.ValidString(w) {
		return NeighbourUnknown, false
	}
	for _, dec := range []func(string) string{decodeCP866, decodeCP850} {
		if st, ok := neighbourWords[strings.ToLower(dec(w))]; ok {
			return st, true
		}
	}
	return NeighbourUnknown, false
}

// decodeCP866 decodes the Cyrillic letters of code page 866 (А–п at
// 0x80–0xAF, р–я at 0xE0–0xEF, Ё ё at 0xF0 0xF1); other high bytes become
// U+FFFD.
func decodeCP866(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case c <= 0xAF:
			b.WriteRune(rune(0x410 + int(c) - 0x80))
		case c >= 0xE0 && c <= 0xEF:
			b.WriteRune(rune(0x440 + int(c) - 0xE0))
		case c == 0xF0:
			b.WriteRune('Ё')
		case c == 0xF1:
			b.WriteRune('ё')
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// cp850Letters are the letters of code page 850 the state words use.
var cp850Letters = map[byte]rune{0x81: 'ü', 0x82: 'é', 0x84: 'ä', 0x94: 'ö', 0x8A: 'è', 0xA0: 'á', 0xA2: 'ó', 0xA1: 'í'}

// decodeCP850 decodes the few accented letters of code page 850 that
// state words use; other high bytes become U+FFFD.
func decodeCP850(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			b.WriteByte(c)
		} else if r, ok := cp850Letters[c]; ok {
			b.WriteRune(r)
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// isZeroMAC reports whether a normalised MAC is all zeros, what Windows
// shows for an unresolved entry and Linux for an incomplete one.
func isZeroMAC(mac string) bool { return mac == "00:00:00:00:00:00" }
