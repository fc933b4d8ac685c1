package hostnic

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// An SR-IOV NIC (<interface type='hostdev'>: a VF passed to the guest):
// its PF, found from the VF's PCI address in sysfs (physfn, virtfnN, the
// PF's net/ name), the PF's state (sysfs), and the VF's settings as `ip
// link show dev PF` prints them (mac, vlan, spoof checking, link-state,
// trust). A VF with link-state disable, or a PF down or without carrier,
// is host_vf_down.

func init() { register(model.HostKindHostdev, inspectVF) }

// pciAddr matches a PCI address as sysfs names it.
var pciAddr = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

func inspectVF(ctx context.Context, o Options, n NIC) model.HostSide {
	if !pciAddr.MatchString(n.PCI) {
		return unknown(n.Kind, "the domain names no PCI address for this VF")
	}
	pf, vf, why := findPF(o.SysPCI, n.PCI)
	if why != "" {
		return unknown(n.Kind, why)
	}
	pfl := readLink(o.SysNet, pf)
	if !pfl.exists {
		return unknown(n.Kind, fmt.Sprintf("the PF %s of VF %s is not in vmcheck's network namespace", pf, n.PCI))
	}
	facts := []string{fmt.Sprintf("VF %d of PF %s (%s)", vf, pf, n.PCI), fmt.Sprintf("PF %s %s", pf, pfl.oper)}
	if !pfl.adminUp || down(pfl.oper) {
		return known(n.Kind, facts, pfDown(pf, pfl))
	}
	out, err := o.Run(ctx, []string{"ip", "link", "show", "dev", pf})
	if err != nil {
		return unknown(n.Kind, fmt.Sprintf("cannot read the VFs of %s: %v", pf, err), facts...)
	}
	l, err := parseIPLink(out)
	if err != nil {
		return unknown(n.Kind, fmt.Sprintf("ip link show dev %s: %v", pf, err), facts...)
	}
	v, ok := l.vf(vf)
	if !ok {
		return unknown(n.Kind, fmt.Sprintf("ip link show dev %s lists no vf %d", pf, vf), facts...)
	}
	facts = append(facts, v.String())
	if v.mac != "" && !sameMAC(v.mac, n.MAC) && v.mac != "00:00:00:00:00:00" {
		facts = append(facts, "VF mac differs from the NIC's "+n.MAC.String())
	}
	if v.linkState == "disable" {
		return known(n.Kind, facts, fault(model.CodeHostVFDown,
			"VF %d of %s (this NIC) has link-state disable: its link is held down on the node; let it follow the PF (ip link set %s vf %d state auto)", vf, pf, pf, vf))
	}
	return known(n.Kind, facts, nil)
}

// pfDown is host_vf_down for a PF set down or without link.
func pfDown(pf string, l link) *model.HostFault {
	if !l.adminUp {
		return fault(model.CodeHostVFDown, "the PF %s of this NIC's VF is set down on the node: bring it up (ip link set %s up)", pf, pf)
	}
	return fault(model.CodeHostVFDown, "the PF %s of this NIC's VF has no link (%s): check its cable and switch port (ip link show %s; ethtool %s)", pf, l.oper, pf, pf)
}

// findPF finds the PF's interface name and the VF's index from a VF's PCI
// address: sysPCI/VF/physfn is the PF, whose virtfnN names the VF and
// whose net/ holds its interface. why says what is missing.
func findPF(sysPCI, vfAddr string) (pf string, vf int, why string) {
	pfDir, err := filepath.EvalSymlinks(filepath.Join(sysPCI, vfAddr, "physfn"))
	if err != nil {
		return "", 0, fmt.Sprintf("no PF for %s in %s: not an SR-IOV VF, or vmcheck cannot see the node's PCI devices", vfAddr, sysPCI)
	}
	vf = -1
	links, _ := filepath.Glob(filepath.Join(pfDir, "virtfn*"))
	for _, l := range links {
		t, err := os.Readlink(l)
		if err != nil || filepath.Base(t) != vfAddr {
			continue
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(l), "virtfn")); err == nil {
			vf = i
		}
	}
	if vf < 0 {
		return "", 0, fmt.Sprintf("the PF %s lists no virtfn for %s", filepath.Base(pfDir), vfAddr)
	}
	names, _ := os.ReadDir(filepath.Join(pfDir, "net"))
	if len(names) == 0 || !validName(names[0].Name()) {
		return "", 0, fmt.Sprintf("the PF %s of VF %s has no network interface vmcheck can see (bound to another driver, or in another network namespace)", filepath.Base(pfDir), vfAddr)
	}
	return names[0].Name(), vf, ""
}

// ipLink is what `ip link show dev PF` says of a PF and its VFs.
type ipLink struct {
	name  string
	flags []string // <BROADCAST,MULTICAST,UP,LOWER_UP>
	state string   // state UP|DOWN|…
	vfs   []vfInfo
}

// vfInfo is one "vf N …" line.
type vfInfo struct {
	id        int
	mac       string
	vlan      int
	spoofchk  string // on, off, or "" when not said
	linkState string // auto, enable, disable
	trust     string // on, off, or ""
}

// String is the VF's settings as a fact.
func (v vfInfo) String() string {
	return fmt.Sprintf("vf %d mac %s vlan %d spoofchk %s link-state %s trust %s", v.id, orNone(v.mac), v.vlan, orNone(v.spoofchk), orNone(v.linkState), orNone(v.trust))
}

func (l ipLink) vf(id int) (vfInfo, bool) {
	for _, v := range l.vfs {
		if v.id == id {
			return v, true
		}
	}
	return vfInfo{}, false
}

// linkHead matches the first line: "7: enp129s0f1: <FLAGS> … state UP …".
var linkHead = regexp.MustCompile(`^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>.*?\sstate\s+(\S+)`)

// parseIPLink reads the text of `ip link show dev PF` (iproute2 since
// 2013: "vf N MAC m, vlan v, spoof checking on, link-state auto, trust
// off"; iproute2 4.x and later print "vf N     link/ether m brd b, …").
func parseIPLink(out []byte) (ipLink, error) {
	var l ipLink
	sc := bufio.NewScanner(bytes.NewReader(out))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			m := linkHead.FindStringSubmatch(line)
			if m == nil {
				return l, fmt.Errorf("first line is not a link: %q", guestagent.Sanitize(line, 80))
			}
			l.name, l.flags, l.state = m[1], strings.Split(m[2], ","), m[3]
			first = false
			continue
		}
		if v, ok := parseVF(line); ok {
			l.vfs = append(l.vfs, v)
		}
	}
	if first {
		return l, fmt.Errorf("empty output")
	}
	return l, sc.Err()
}

// parseVF reads one "vf N …" line.
func parseVF(line string) (vfInfo, bool) {
	parts := strings.Split(line, ", ")
	head := strings.Fields(parts[0])
	if len(head) < 2 || head[0] != "vf" {
		return vfInfo{}, false
	}
	id, err := strconv.Atoi(head[1])
	if err != nil {
		return vfInfo{}, false
	}
	v := vfInfo{id: id}
	if len(head) >= 4 && (head[2] == "MAC" || head[2] == "link/ether") {
		v.mac = strings.ToLower(head[3])
	}
	for _, p := range parts[1:] {
		f := strings.Fields(p)
		switch {
		case len(f) >= 2 && f[0] == "vlan" && f[1] != "protocol":
			v.vlan, _ = strconv.Atoi(f[1])
		case strings.HasPrefix(p, "spoof checking ") && len(f) == 3:
			v.spoofchk = f[2]
		case len(f) == 2 && f[0] == "link-state":
			v.linkState = f[1]
		case len(f) == 2 && f[0] == "trust":
			v.trust = f[1]
		}
	}
	return v, true
}
