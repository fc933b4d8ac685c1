package output

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/probe/cause"
	"github.com/vmcheck/vmcheck/settings"
)

// maxShortDetail caps the short form of a diagnosis detail in the table.
const maxShortDetail = 80

// LayerName is a diagnosis layer as a person reads it: "Host", "Guest" or
// "Network"; anything outside the closed set is "Unknown".
func LayerName(l model.Layer) string {
	switch l {
	case model.LayerHost:
		return "Host"
	case model.LayerGuest:
		return "Guest"
	case model.LayerNetwork:
		return "Network"
	}
	return "Unknown"
}

// LayerOwner says whose fault a layer is: "the operator's" (host), "the
// tenant's" (guest), "the network's" (between the VM and the outside).
func LayerOwner(l model.Layer) string {
	switch l {
	case model.LayerHost:
		return "the operator's"
	case model.LayerGuest:
		return "the tenant's"
	case model.LayerNetwork:
		return "the network's"
	}
	return "unknown"
}

// nicContext is what a remedy names about the NIC a diagnosis concerns.
type nicContext struct {
	domain, mac, device, bridge, guestName, kind string
}

// contextOf finds the NIC of d in r by MAC; the names it cannot find are
// placeholders in capitals, as in a manual.
func contextOf(d model.Diagnosis, r model.Result) nicContext {
	c := nicContext{domain: shellWord(r.Name), mac: "MAC", device: "TAP", bridge: "BRIDGE", guestName: "the interface"}
	if d.NIC != "" {
		c.mac = shellWord(d.NIC.String())
	}
	for _, n := range r.NICs {
		if !strings.EqualFold(n.MAC.String(), d.NIC.String()) {
			continue
		}
		if n.Device != "" {
			c.device = shellWord(n.Device)
		}
		if n.SourceType == "bridge" && n.Source != "" {
			c.bridge = shellWord(n.Source)
		}
		if n.GuestName != "" {
			c.guestName = n.GuestName
		}
		c.kind = n.HostKind
	}
	return c
}

// DiagnosisPlain is one diagnosis in plain language, with what to do: "the
// NIC's link is set down on the host (virsh domif-setlink web-1
// 52:54:00:00:00:01 up; …)", each registered backend's way
// (settings.LinkUpCommands); a probe method's cause in the words it
// registered (probe.CausePlain). r gives the domain and the NIC's names
// for the remedy. A code outside model.Codes is shown by its detail
// alone.
func DiagnosisPlain(d model.Diagnosis, r model.Result) string {
	c := contextOf(d, r)
	switch d.Code {
	case model.CodeHostLinkDown:
		return fmt.Sprintf("the NIC's link is set down on the host (%s)", strings.Join(settings.LinkUpCommands(c.domain, c.mac), "; "))
	case model.CodeHostTapDown:
		if c.kind != "" && c.kind != model.HostKindBridge {
			return "the NIC's tap device on the host (or a link of its Proxmox VE firewall bridge) is down or not in its bridge: the detail names the command"
		}
		return fmt.Sprintf("the NIC's tap device on the host is down or not in its bridge (ip link set %s master %s up)", c.device, c.bridge)
	case model.CodeHostOVSPortDown:
		return fmt.Sprintf("the NIC's Open vSwitch port is missing from its bridge, not attached (ofport -1) or down on the host (ovs-vsctl list Interface %s; ovs-ofctl show BRIDGE): the detail names the command", c.device)
	case model.CodeHostMacvtapLowerDown:
		return "the lower device of the NIC's macvtap (its source dev) is down on the host (ip link set LOWER up, and its cable, switch port or peer)"
	case model.CodeHostVFDown:
		return "the NIC's SR-IOV VF is held down on the host: link-state disable, or its PF is down (ip link show PF; ip link set PF vf N state auto)"
	case model.CodeHostVhostUserDown:
		return "the NIC's vhost-user socket is missing on the host, or its OVS-DPDK interface is not attached or down (ovs-vsctl list Interface NAME)"
	case model.CodeGuestNICMissing:
		return "no interface inside the guest carries the NIC's MAC (driver missing, or the interface was removed in the guest)"
	case model.CodeGuestLinkDown:
		return fmt.Sprintf("%s is down inside the guest or has no carrier (the guest's network configuration: bring it up)", c.guestName)
	case model.CodeGuestNoAddress:
		return fmt.Sprintf("%s has no address inside the guest (the guest's DHCP client or network configuration)", c.guestName)
	case model.CodeGuestAddressMismatch:
		return "the guest holds another address than the one the platform assigned (the guest's network configuration)"
	case model.CodeGuestNoDefaultRoute:
		return "the guest has no default route through this NIC although its gateway is known (the guest's network configuration)"
	case model.CodeGatewayUnresolved:
		return "the gateway does not answer ARP/ND from the guest: layer 2 between the VM and its gateway is broken (bridge, VLAN, port security, or the gateway is gone)"
	case model.CodeGatewayICMPFiltered:
		return "the gateway answers ARP/ND but not ping: a security group or firewall drops ICMP echo"
	case model.CodeGatewayUnconfirmed:
		return "the gateway does not answer ping and the guest holds only a cached or static neighbour entry for it: a firewall and a layer-2 break look alike from inside (the host side, bridge, VLAN; check again)"
	case model.CodeUpstreamUnreachable:
		return "the gateway answers, the external target does not: the fault is beyond the gateway (router, uplink, upstream firewall)"
	}
	if plain, ok := cause.Plain(cause.Cause(d.Code)); ok {
		return plain
	}
	return d.Detail
}

// shellSafe matches words a shell takes literally.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9._:@%+=,/-]+$`)

// shellWord quotes s for a command line an operator may paste.
func shellWord(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShortDetail is the first sentence of a diagnosis detail, at most 80
// characters (cut with "…"): the table's short form.
func ShortDetail(detail string) string {
	s := detail
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if utf8.RuneCountInString(s) <= maxShortDetail {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:maxShortDetail-1])) + "…"
}

// HostSideNotes says, for each NIC of r whose host side vmcheck looked at
// and could not read, "host side unknown (kind)" with why: such a NIC gets
// no host cause, and the reader should know the host was not ruled out.
func HostSideNotes(r model.Result) []string {
	var out []string
	for _, n := range r.NICs {
		if h := n.HostSide; h != nil && !h.Known {
			out = append(out, n.MAC.String()+": "+h.Note)
		}
	}
	return out
}

// ReasonText is the table's REASON: the first diagnosis (its code and the
// short form of its detail, and how many more causes there are), then the
// result's reason; the reason alone when there is no diagnosis.
func ReasonText(r model.Result) string {
	if len(r.Diagnosis) == 0 {
		return withHostNotes(r.Reason, r)
	}
	d := r.Diagnosis[0]
	s := string(d.Code)
	if sd := ShortDetail(d.Detail); sd != "" {
		s += ": " + sd
	}
	if n := len(r.Diagnosis) - 1; n == 1 {
		s += " (+1 more cause)"
	} else if n > 1 {
		s += fmt.Sprintf(" (+%d more causes)", n)
	}
	if r.Reason != "" {
		s += "; " + r.Reason
	}
	return withHostNotes(s, r)
}

// withHostNotes adds HostSideNotes to a REASON.
func withHostNotes(s string, r model.Result) string {
	notes := HostSideNotes(r)
	if len(notes) == 0 {
		return s
	}
	if s != "" {
		s += "; "
	}
	return s + strings.Join(notes, "; ")
}

// LogDiagnosis is one diagnosis in a log line: the same keys for every
// diagnosis, as LogProbe for probes.
type LogDiagnosis struct {
	Code  string `json:"code"`
	Layer string `json:"layer"`
	NIC   string `json:"nic,omitempty"`
}

// diagnosisFields lists r's diagnoses as LogDiagnosis, never nil.
func diagnosisFields(ds []model.Diagnosis) []LogDiagnosis {
	list := make([]LogDiagnosis, 0, len(ds))
	for _, d := range ds {
		list = append(list, LogDiagnosis{Code: string(d.Code), Layer: string(d.Layer), NIC: d.NIC.String()})
	}
	return list
}
