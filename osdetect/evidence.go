package osdetect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
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

// NUDState is the state of the gateway's entry in the guest's neighbour
// table, normalised from the words of Linux ip (the kernel's NUD states)
// and Windows netsh (RFC 4861 states; "Unreachable" is failed).
type NUDState string

// Neighbour entry states of an Evidence.
const (
	NUDUnknown    NUDState = "unknown"    // not read, or a word osdetect does not know (arp.exe's "dynamic")
	NUDNone       NUDState = "none"       // no entry for the gateway on the interface
	NUDReachable  NUDState = "reachable"  // confirmed within the kernel's reachable time
	NUDStale      NUDState = "stale"      // resolved once, not confirmed since the reachable time ran out
	NUDDelay      NUDState = "delay"      // stale and used: the kernel waits for a confirmation before it probes
	NUDProbe      NUDState = "probe"      // the kernel is sending unicast probes
	NUDIncomplete NUDState = "incomplete" // being resolved: requests sent, no answer yet
	NUDFailed     NUDState = "failed"     // resolution failed: nothing answered
	NUDPermanent  NUDState = "permanent"  // a static entry: never asked, never confirmed
	NUDNoARP      NUDState = "noarp"      // a device without resolution: never confirmed
)

// Evidence is what the guest says about one NIC after a failed check.
type Evidence struct {
	Link      LinkState
	Neighbour NeighbourState // of the gateway, on the interface
	State     NUDState       // the neighbour entry's state at the last read
	// Fresh: the gateway answered the guest's ARP/ND during this check:
	// the entry is REACHABLE and iproute2's "ip -s" shows it confirmed
	// after the failed ping started, or it turned REACHABLE from DELAY,
	// PROBE or INCOMPLETE while vmcheck waited, or (busybox ip, which
	// prints no confirmation time, or iproute2 dating the confirmation
	// before the ping; IPv4) the gateway answered arping. A
	// REACHABLE entry with no confirmation time (busybox ip for IPv6,
	// Windows) is not fresh: the kernel keeps it REACHABLE for up to 45 s
	// after its last confirmation. A STALE, DELAY, PROBE, PERMANENT or
	// NOARP entry is never fresh: a cached or static address, not an
	// answer.
	Fresh bool
	// Seen says in words what the reads showed of the entry's state and
	// when ("REACHABLE, confirmed 1 s before the read"), sanitised.
	Seen   string
	LLAddr string // the gateway's link-layer address when resolved, in guestagent.NormalMAC form
	Raw    string // a short sanitised excerpt of what was read, at most MaxEvidenceRawRunes runes
}

// EvidenceRead is one evidence command as it ran: its status, or the
// error of the agent that could not run it (a program the guest lacks),
// and when it started, counted from the start of the failed gateway ping
// (an earlier bound is fine: the start of the check).
type EvidenceRead struct {
	Status guestagent.ExecStatus
	Err    error
	Since  time.Duration
}

// EvidenceStep is the next evidence command to run, and how long after
// the start of the failed gateway ping to run it at the earliest.
type EvidenceStep struct {
	Command   guestagent.Command
	NotBefore time.Duration
}

// ErrNoInterface is wrapped by ParseEvidence's error when the guest's own
// output says the interface does not exist.
var ErrNoInterface = errors.New("the guest has no such interface")

// Limits of the evidence commands' output and of Evidence.Raw.
const (
	// EvidenceOutputLimit is the most the caller should keep of each
	// output stream of an evidence command (the limit of
	// guestagent.Client.Wait); a neighbour table longer than that is read
	// in part, and a gateway not found in the part is NeighbourUnknown.
	EvidenceOutputLimit = 256 << 10
	// MaxEvidenceCommands is the most commands NextEvidence asks for.
	MaxEvidenceCommands = 3
	// MaxEvidenceRawRunes caps Evidence.Raw.
	MaxEvidenceRawRunes = 300
	// maxEvidenceLines is how many lines of output a parser looks at.
	maxEvidenceLines = 8192
	// maxEvidenceLineLen: longer lines are no table row and are skipped
	// (a row of /proc/net/arp is 80 bytes).
	maxEvidenceLineLen = 1024
)

// How long after a failed ping the guest's kernel has settled what it
// knows of the gateway, with the defaults of Linux
// (net.ipv4.neigh.default.*) and of RFC 4861, which Windows follows:
//   - a DELAY entry waits delay_first_probe_time (5 s) for a confirmation,
//     then PROBE sends ucast_solicit (3) unicast probes retrans_time (1 s)
//     apart: REACHABLE at the first answer, FAILED after the last;
//   - an INCOMPLETE entry sends mcast_solicit (3) requests 1 s apart.
//
// Half a second more covers the timers' rounding. A guest with longer
// timers may still show DELAY or PROBE after the wait: not fresh.
const (
	SettleProbe   = 8500 * time.Millisecond
	SettleResolve = 3500 * time.Millisecond
)

// NextEvidence returns the next command that tells, for a guest of family
// f, the link state of interface iface and the state of the gateway gw in
// the guest's neighbour table, given the reads of the commands it
// returned before (none at first); ok is false when the evidence is
// complete. It asks for at most MaxEvidenceCommands commands:
//
//	Linux:   ip -4|-6 neigh show dev IF, then one of
//	         - the same after the kernel's re-check (the entry was DELAY,
//	           PROBE or INCOMPLETE just after the ping);
//	         - ip -s -4|-6 neigh show dev IF (REACHABLE, iproute2: when it
//	           was confirmed);
//	         - cat /sys/class/net/IF/operstate /sys/class/net/IF/carrier
//	           [/proc/net/arp for IPv4] (the link state, and the ARP table
//	           when ip failed);
//	         - arping -f -c 2 -w 2 -I IF GW (REACHABLE, busybox ip, which
//	           prints no confirmation time, IPv4: a fresh ARP answer);
//	         a REACHABLE IPv6 row of busybox ip needs no second command:
//	         nothing in busybox asks ND afresh; and a third, arping, when
//	         ip -s showed an IPv4 entry confirmed before the failed ping.
//	Windows: netsh.exe interface ipv4|ipv6 show neighbors [interface=IDX],
//	         and the same again after the re-check when the entry was
//	         Delay, Probe or Incomplete.
//
// iface identifies the interface the family's way: on Linux its name
// (linux.CheckLinuxIface); on Windows its interface index, or "" for every
// interface (then the zone of a link-local gw, when it is an index,
// selects one). gw must pass ValidatePingTarget; an IPv4-mapped gw is taken as
// IPv4. Everything in the argv is re-formatted by osdetect (addresses by
// net/netip, indexes by strconv), never copied from iface. Each command
// captures its output; wait for it with a limit of EvidenceOutputLimit,
// and do not run it before NotBefore has passed since the ping started.
func NextEvidence(f Family, iface string, gw netip.Addr, reads []EvidenceRead) (step EvidenceStep, ok bool, err error) {
	gw = gw.Unmap()
	if err := ValidatePingTarget(gw); err != nil {
		return EvidenceStep{}, false, fmt.Errorf("evidence: gateway: %w", err)
	}
	fam, known := families[f]
	if !known || fam.Evidence == nil {
		return EvidenceStep{}, false, fmt.Errorf("evidence: no neighbour command for OS family %q", f)
	}
	if len(reads) >= MaxEvidenceCommands {
		return EvidenceStep{}, false, nil
	}
	step, ok, err = fam.Evidence(iface, gw, reads)
	if err != nil {
		return EvidenceStep{}, false, fmt.Errorf("evidence: %w", err)
	}
	step.Command.CaptureOutput = true
	return step, ok, nil
}

// ParseEvidence reads the reads of the commands NextEvidence(f, iface, gw,
// …) returned, in order. It returns an error when they tell nothing (the
// programs are missing or failed without printing a table); the error
// wraps ErrNoInterface when the output says the interface does not exist.
// An Evidence returned with an error may still carry Raw. Every string in
// it is sanitised; the parse is linear in the output and looks at no more
// than 8192 lines of each command.
func ParseEvidence(f Family, iface string, gw netip.Addr, reads []EvidenceRead) (Evidence, error) {
	gw = gw.Unmap()
	ev := Evidence{Link: LinkUnknown, Neighbour: NeighbourUnknown, State: NUDUnknown}
	if len(reads) == 0 {
		return ev, errors.New("evidence: nothing was read")
	}
	fam, ok := families[f]
	if !ok || fam.ParseEvidence == nil {
		return ev, fmt.Errorf("evidence: cannot read neighbour output of OS family %q", f)
	}
	ev, err := fam.ParseEvidence(iface, gw, reads[:min(len(reads), MaxEvidenceCommands)])
	ev.Raw = guestagent.Sanitize(ev.Raw, MaxEvidenceRawRunes)
	ev.Seen = guestagent.Sanitize(ev.Seen, MaxEvidenceRawRunes)
	if ev.Link == "" {
		ev.Link = LinkUnknown
	}
	if ev.Neighbour == "" {
		ev.Neighbour = NeighbourUnknown
	}
	if ev.State == "" {
		ev.State = NUDUnknown
	}
	if ev.Neighbour != NeighbourResolved {
		ev.LLAddr = ""
	}
	ev.Fresh = ev.Fresh && ev.State == NUDReachable && ev.Neighbour == NeighbourResolved
	if err != nil {
		return ev, fmt.Errorf("evidence: %w", err)
	}
	return ev, nil
}

// Exited is the status of a read whose command ran and exited, or an
// error saying why there is none.
func (r EvidenceRead) Exited() (guestagent.ExecStatus, error) {
	switch {
	case r.Err != nil:
		return r.Status, r.Err
	case !r.Status.Exited:
		return r.Status, errors.New("the command has not finished")
	case r.Status.Signal != nil || r.Status.ExitCode == nil:
		return r.Status, fmt.Errorf("%s", ExitText(r.Status))
	}
	return r.Status, nil
}

// Pending reports whether the kernel is still finding out about an entry
// in this state: it will be REACHABLE or FAILED once it has settled.
func (s NUDState) Pending() bool {
	return s == NUDDelay || s == NUDProbe || s == NUDIncomplete
}

// Settle is how long after the ping to read an entry found in state s
// again; 0 when waiting teaches nothing.
func (s NUDState) Settle() time.Duration {
	switch s {
	case NUDDelay, NUDProbe:
		return SettleProbe
	case NUDIncomplete:
		return SettleResolve
	}
	return 0
}

// Word is the upper-case state word as ip and netsh print it.
func (s NUDState) Word() string { return strings.ToUpper(string(s)) }

// Recheck combines an entry read just after the ping (first, pending) with
// the same entry read again after the kernel's re-check (second, read
// since after the ping's start).
func Recheck(first, second Evidence, since time.Duration) Evidence {
	secs := int(since.Seconds())
	switch {
	case second.State == NUDReachable && second.Neighbour == NeighbourResolved:
		second.Fresh = true
		second.Seen = fmt.Sprintf("%s after the ping, REACHABLE %d s after it: the gateway answered the kernel's probe during this check", first.State.Word(), secs)
	case second.Neighbour == NeighbourUnresolved:
		second.Fresh = false
		second.Seen = fmt.Sprintf("%s after the ping, %s %d s after it: the kernel's probes got no answer", first.State.Word(), second.State.Word(), secs)
	default:
		second.Fresh = false
		second.Seen = fmt.Sprintf("%s after the ping, %s %d s after it: not confirmed during this check", first.State.Word(), second.State.Word(), secs)
	}
	return second
}

// SeenOnce describes an entry read once, with no word of when it was
// confirmed: never fresh, not even REACHABLE, which the kernel keeps for
// its reachable time (15-45 s by default) after the last confirmation,
// with no ARP/ND packet: it may predate the failed ping.
func SeenOnce(ev Evidence) Evidence {
	ev.Fresh = false
	switch ev.State {
	case NUDReachable:
		ev.Seen = "REACHABLE with no confirmation time: confirmed within the kernel's reachable time (15-45 s by default), maybe before the failed ping: not an answer to this check"
	case NUDStale:
		ev.Seen = "STALE: a cached address, not confirmed within the reachable time"
	case NUDDelay, NUDProbe:
		ev.Seen = ev.State.Word() + ": a cached address the kernel was re-checking, not confirmed"
	case NUDPermanent, NUDNoARP:
		ev.Seen = ev.State.Word() + ": a static entry the guest never confirms"
	case NUDIncomplete, NUDFailed:
		ev.Seen = ev.State.Word() + ": the guest's requests got no answer"
	case NUDNone:
		ev.Seen = "no entry"
	default:
		ev.Seen = "state unknown"
	}
	return ev
}

// EvidenceLines splits output into at most maxEvidenceLines lines, and
// blanks those longer than maxEvidenceLineLen so that no parser splits
// them into fields. cut reports whether lines were dropped at the end or
// the agent cut the output.
func EvidenceLines(out []byte, truncated bool) (ls []string, cut bool) {
	ls = SplitLines(out, maxEvidenceLines)
	for i, l := range ls {
		if len(l) > maxEvidenceLineLen {
			ls[i] = ""
		}
	}
	return ls, truncated || len(ls) == maxEvidenceLines
}

// RawParts joins the parts of an Evidence.Raw, each sanitised, and stops
// once the excerpt is full. The zero value is empty.
type RawParts struct {
	parts []string
	runes int
}

// Add appends s, sanitised, unless the excerpt is full or s is empty.
func (r *RawParts) Add(s string) {
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

// String is the parts joined by " | ".
func (r *RawParts) String() string { return strings.Join(r.parts, " | ") }

// NUDWord is what a neighbour row's state or type word says.
type NUDWord struct {
	NUD       NUDState
	Neighbour NeighbourState
}

// neighbourWords maps the state or type word of a neighbour row, lower
// case, to what it says. English: iproute2 and busybox ip (NUD states),
// netsh (Reachable, Stale, Delay, Probe, Incomplete, Unreachable,
// Permanent) and arp.exe (dynamic, static, invalid); German, French and
// Russian arp.exe types. A word not listed is unknown.
var neighbourWords = map[string]NUDWord{
	"reachable": {NUDReachable, NeighbourResolved}, "stale": {NUDStale, NeighbourResolved},
	"delay": {NUDDelay, NeighbourResolved}, "probe": {NUDProbe, NeighbourResolved},
	"permanent": {NUDPermanent, NeighbourResolved}, "noarp": {NUDNoARP, NeighbourResolved},
	"incomplete": {NUDIncomplete, NeighbourUnresolved}, "failed": {NUDFailed, NeighbourUnresolved},
	"none": {NUDNone, NeighbourUnresolved}, "unreachable": {NUDFailed, NeighbourUnresolved},
	// arp.exe: "dynamic" has an address but no state.
	"dynamic": {NUDUnknown, NeighbourResolved}, "static": {NUDPermanent, NeighbourResolved},
	"invalid": {NUDFailed, NeighbourUnresolved},
	// arp.exe, German, French, Russian.
	"dynamisch": {NUDUnknown, NeighbourResolved}, "statisch": {NUDPermanent, NeighbourResolved}, "ungültig": {NUDFailed, NeighbourUnresolved},
	"dynamique": {NUDUnknown, NeighbourResolved}, "statique": {NUDPermanent, NeighbourResolved},
	"динамический": {NUDUnknown, NeighbourResolved}, "статический": {NUDPermanent, NeighbourResolved}, "недопустимый": {NUDFailed, NeighbourUnresolved},
}

// NeighbourWord looks a state word up in neighbourWords. The word may be
// UTF-8, or in an OEM code page: bytes that are not UTF-8 are read as
// CP866 Cyrillic (Russian) or, failing that, CP850 (Western European).
func NeighbourWord(w string) (NUDWord, bool) {
	if len(w) > 64 {
		return NUDWord{NUDUnknown, NeighbourUnknown}, false
	}
	if st, ok := neighbourWords[strings.ToLower(w)]; ok {
		return st, true
	}
	if utf8.ValidString(w) {
		return NUDWord{NUDUnknown, NeighbourUnknown}, false
	}
	for _, dec := range []func(string) string{decodeCP866, decodeCP850} {
		if st, ok := neighbourWords[strings.ToLower(dec(w))]; ok {
			return st, true
		}
	}
	return NUDWord{NUDUnknown, NeighbourUnknown}, false
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

// IsZeroMAC reports whether a normalised MAC is all zeros, what Windows
// shows for an unresolved entry and Linux for an incomplete one.
func IsZeroMAC(mac string) bool { return mac == "00:00:00:00:00:00" }

// WithRaw sets ev.Raw to the parts joined.
func WithRaw(ev Evidence, parts ...string) Evidence {
	var raw RawParts
	for _, p := range parts {
		raw.Add(p)
	}
	ev.Raw = raw.String()
	return ev
}
