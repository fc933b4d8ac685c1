package hostnic

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmcheck/vmcheck/model"
)

// A vhost-user NIC (<interface type='vhostuser'>): its unix socket, and,
// when Open vSwitch with DPDK serves it, the dpdkvhostuser (OVS the
// server, QEMU mode='client') or dpdkvhostuserclient (QEMU mode='server',
// options:vhost-server-path) Interface row. Without an OVS-DPDK row (OVSDB
// unreachable, another backend such as VPP or snabb) the host side is
// unknown. link_state down is a fact, not a cause: a guest whose virtio
// driver has not started the device shows it too.

func init() { register(model.HostKindVhostUser, inspectVhostUser) }

func inspectVhostUser(ctx context.Context, o Options, n NIC) model.HostSide {
	if n.Socket == "" || !filepath.IsAbs(n.Socket) {
		return unknown(n.Kind, "the domain names no vhost-user socket path")
	}
	facts := []string{fmt.Sprintf("socket %s (QEMU is the %s)", n.Socket, orNone(n.SocketMode))}
	st, err := os.Stat(n.Socket)
	switch {
	case err == nil && st.Mode().Type() != fs.ModeSocket:
		return known(n.Kind, facts, fault(model.CodeHostVhostUserDown, "the vhost-user path %s of this NIC is not a socket (%s): %s", n.Socket, st.Mode().Type(), vhostRemedy(n)))
	case err != nil && dirExists(filepath.Dir(n.Socket)):
		return known(n.Kind, append(facts, "socket missing"), fault(model.CodeHostVhostUserDown, "the vhost-user socket %s of this NIC is missing on the node: %s", n.Socket, vhostRemedy(n)))
	case err != nil:
		return unknown(n.Kind, fmt.Sprintf("vmcheck cannot see %s: it does not run in the mount namespace of the VM's sockets", filepath.Dir(n.Socket)), facts...)
	}
	q, ok := vhostQuery(n)
	if !ok {
		return unknown(n.Kind, "no Open vSwitch interface vmcheck can look up for this socket", facts...)
	}
	p, err := readOVS(ctx, o, q)
	if err != nil {
		return unknown(n.Kind, fmt.Sprintf("the socket exists; cannot read Open vSwitch's database %s: %v", o.OVSDB, err), facts...)
	}
	if !p.found || !strings.HasPrefix(p.ifaceType, "dpdkvhostuser") {
		return unknown(n.Kind, "the socket exists; Open vSwitch has no dpdkvhostuser interface for it: another vhost-user backend serves it", facts...)
	}
	n.Device = p.name
	facts = append(facts, p.facts(p.name)...)
	return known(n.Kind, facts, vhostOVSFault(n, p))
}

// vhostOVSFault is host_vhostuser_down for an OVS-DPDK vhost-user
// interface, nil when nothing is wrong.
func vhostOVSFault(n NIC, p ovsPort) *model.HostFault {
	t := n.Device
	switch {
	case p.bridge == "":
		return fault(model.CodeHostVhostUserDown, "the OVS-DPDK interface %s is on no bridge: add it (ovs-vsctl add-port BRIDGE %s -- set Interface %s type=%s)", t, t, t, p.ifaceType)
	case p.notAttached() != "":
		return fault(model.CodeHostVhostUserDown, "the OVS-DPDK interface %s on %s is not attached (%s): check ovs-vswitchd's log and DPDK's memory, then re-add it (ovs-vsctl del-port %s %s; ovs-vsctl add-port %s %s -- set Interface %s type=%s)", t, p.bridge, p.notAttached(), p.bridge, t, p.bridge, t, t, p.ifaceType)
	case p.admin == "down":
		return fault(model.CodeHostVhostUserDown, "the OVS-DPDK interface %s on %s is administratively down: bring it up (ovs-ofctl mod-port %s %s up)", t, p.bridge, p.bridge, t)
	}
	return nil
}

// vhostQuery is how Open vSwitch names the socket's interface: QEMU the
// server (mode='server'), OVS-DPDK's dpdkvhostuserclient connects to it
// (options:vhost-server-path); QEMU the client, dpdkvhostuser serves the
// socket named after the interface in OVS's run directory.
func vhostQuery(n NIC) (ovsQuery, bool) {
	if n.SocketMode == "server" {
		return ovsQuery{serverPath: n.Socket}, validPath(n.Socket)
	}
	name := filepath.Base(n.Socket)
	return ovsQuery{name: name}, validName(name)
}

// validPath reports whether p is an absolute path of plain characters
// without "." or ".." elements, safe in an ovs-vsctl condition. Doubled
// slashes stay: OVS compares the path as libvirt wrote it (OpenNebula's
// /var/lib/one//datastores/…).
func validPath(p string) bool {
	if !filepath.IsAbs(p) || len(p) >= 256 || !plainPath.MatchString(p) {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "." || e == ".." {
			return false
		}
	}
	return true
}

// plainPath matches the characters of a socket path vmcheck passes on.
var plainPath = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// vhostRemedy says who makes the socket: with QEMU the client, the switch
// (OVS-DPDK's dpdkvhostuser); with QEMU the server, QEMU itself.
func vhostRemedy(n NIC) string {
	if n.SocketMode == "server" {
		return "QEMU creates it (mode='server'): the VM must be restarted to recreate it (virsh reboot does not; stop and start the domain)"
	}
	return "the switch creates it (QEMU is the client: OVS-DPDK's dpdkvhostuser port): check that the port exists (ovs-vsctl list Interface " + orNone(n.Device) + ") and ovs-vswitchd's log, then restart the VM's NIC"
}

// dirExists reports whether dir is a directory vmcheck can see.
func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}
