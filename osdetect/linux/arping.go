package linux

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
)

// arpingWait is how long, in seconds, arping waits for an answer: two
// requests a second apart, and it quits at the first reply (-f).
const arpingWait = "2"

// linuxARPingCmd is "arping -f -c 2 -w 2 -I IF GW": busybox's and
// iputils' arping both take these options, send ARP requests for gw out
// of iface, print "Unicast reply from GW [MAC]" for an answer and exit 0
// only when one came.
func linuxARPingCmd(iface string, gw netip.Addr) guestagent.Command {
	return guestagent.Command{Path: "arping", Args: []string{"-f", "-c", arpingWait, "-w", arpingWait, "-I", iface, gw.String()}}
}

// arpingResult judges the REACHABLE entry ev0 that the reads could not
// date to this check (entry says why, e.g. "REACHABLE with no
// confirmation time (busybox ip)") by what arping, run r.Since after the
// ping's start, says: fresh only if the gateway answered it.
func arpingResult(ev0 osdetect.Evidence, entry string, gw netip.Addr, r osdetect.EvidenceRead) osdetect.Evidence {
	ev := ev0
	ev.Fresh = false
	answered, mac, raw, err := parseARPing(gw, r)
	secs := int64(r.Since.Seconds())
	switch {
	case err != nil:
		ev.Seen = fmt.Sprintf("%s, and arping could not ask the gateway afresh (%v): not confirmed by this check", entry, err)
	case !answered:
		ev.Seen = fmt.Sprintf("%s, but no answer to fresh ARP requests (arping, %d s after the ping): not confirmed by this check", entry, secs)
	case mac != ev0.LLAddr:
		ev.Fresh = true
		ev.Seen = fmt.Sprintf("%s, and %s answered fresh ARP requests (arping, %d s after the ping), though the guest's entry says %s", entry, mac, secs, ev0.LLAddr)
	default:
		ev.Fresh = true
		ev.Seen = fmt.Sprintf("%s, and the gateway answered fresh ARP requests (arping, %d s after the ping)", entry, secs)
	}
	return osdetect.WithRaw(ev, ev0.Raw, raw)
}

// parseARPing reads arping's output: whether gw answered, and from which
// link-layer address. A run that exits 1 having printed its "Sent N
// probe(s)" summary got no answer; any other failure is an error.
func parseARPing(gw netip.Addr, r osdetect.EvidenceRead) (answered bool, mac, raw string, err error) {
	st, err := r.Exited()
	if err != nil {
		return false, "", "arping: " + err.Error(), fmt.Errorf("arping: %w", err)
	}
	ls, _ := osdetect.EvidenceLines(st.Stdout, st.StdoutTruncated)
	sent := false
	for _, l := range ls {
		if m, ok := arpingReply(gw, l); ok {
			return *st.ExitCode == 0, m, l, nil
		}
		sent = sent || strings.HasPrefix(strings.TrimSpace(l), "Sent ")
	}
	if *st.ExitCode == 1 && sent {
		return false, "", "arping: no reply", nil
	}
	msg := osdetect.FirstLine(st.Stderr)
	if msg == "" {
		msg = "arping: " + osdetect.ExitText(st)
	}
	return false, "", msg, fmt.Errorf("%s: %s", osdetect.ExitText(st), msg)
}

// arpingReply reads "Unicast reply from 192.0.2.1 [52:54:00:12:34:56]
// 0.651ms" (busybox, iputils; "Broadcast reply" too) for gw.
func arpingReply(gw netip.Addr, l string) (string, bool) {
	f := strings.Fields(l)
	if len(f) < 5 || f[1] != "reply" || f[2] != "from" {
		return "", false
	}
	if a, err := netip.ParseAddr(f[3]); err != nil || a != gw {
		return "", false
	}
	mac, ok := guestagent.NormalMAC(strings.Trim(f[4], "[]"))
	if !ok || osdetect.IsZeroMAC(mac) {
		return "", false
	}
	return mac, true
}
