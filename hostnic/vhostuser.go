package hostnic

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmcheck/vmcheck/checker"
)

// A vhost-user NIC (<interface type='vhostuser'>): its unix socket, and,
// when Open vSwitch with DPDK serves it, the dpdkvhostuser (OVS the
// server, QEMU mode='client') or dpdkvhostuserclient (QEMU mode='server',
// options:vhost-server-path) Interface row. Without an OVS-DPDK row (OVSDB
// unreachable, another backend such as VPP or snabb) the host side is
// unknown. link_state down is a fact, not a cause: a guest whose virtio
// driver has not started the device shows it too.

func init() { register(checker.HostKindVhostUser, inspectVhostUser) }

func inspectVhostUser(ctx context.Context, o Options, n NIC) checker.HostSide {
	if n.Socket == "" || !filepath.IsAbs(n.Socket) {
		return unknown(n.Kind, "the domain names no vhost-user socket path")
	}
	facts := []string{fmt.Sprintf("socket %s (QEMU is the %s)", n.Socket, orNone(n.SocketMode))}
	st, err := os.Stat(n.Socket)
	switch {
	case err == nil && st.Mode().Type() != fs.ModeSocket:
		return known(n.Kind, facts, fault(checker.CodeHostVhostUserDown, "the vhost-user path %s of this NIC is not a socket (%s): %s", n.Socket, st.Mode().Type(), vhostRemedy(n)))
	case err != nil && dirExists(filepath.Dir(n.Socket)):
		return known(n.Kind, append(facts, "socket missing"), fault(checker.CodeHostVhostUserDown, "the vhost-user socket %s of this NIC is missing on the node: %s", n.Socket, vhostRemedy(n)))
	case err != nil:
		return unknown(n.Kind, fmt.Sprintf("vmcheck cannot see %s: it does not run in the mount namespace of the VM's sockets", filepath.Dir(n.Socket)), facts...)
	}
	if !validName(n.Device) {
		return unknown(n.Kind, "no Open vSwitch interface name for this socket", facts...)
	}
	p, err := readOVS(ctx, o, n.Device)
	if err != nil {
		return unknown(n.Kind, fmt.Sprintf("the socket exists; cannot read Open vSwitch's database %s: %v", o.OVSDB, err), facts...)
	}
	if !p.found || !strings.HasPrefix(p.ifaceType, "dpdkvhostuser") {
		return unknown(n.Kind, fmt.Sprintf("the socket exists; Open vSwitch has no dpdkvhostuser interface %s: another vhost-user backend serves it", n.Device), facts...)
	}
	facts = append(facts, p.facts(n.Device)...)
	return known(n.Kind, facts, vhostOVSFault(n, p))
}

// vhostOVSFault is host_vhostuser_down for an OVS-DPDK vhost-user
// interface, nil when nothing is wrong.
func vhostOVSFault(n NIC, p ovsPort) *checker.HostFault {
	t := n.Device
	switch {
	case p.bridge == "":
		return fault(checker.CodeHostVhostUserDown, "the OVS-DPDK interface %s is on no bridge: add it (ovs-vsctl add-port BRIDGE %s -- set Interface %s type=%s)", t, t, t, p.ifaceType)
	case p.notAttached() != "":
		return fault(checker.CodeHostVhostUserDown, "the OVS-DPDK interface %s on %s is not attached (%s): check ovs-vswitchd's log and DPDK's memory, then re-add it (ovs-vsctl del-port %s %s; ovs-vsctl add-port %s %s -- set Interface %s type=%s)", t, p.bridge, p.notAttached(), p.bridge, t, p.bridge, t, t, p.ifaceType)
	case p.ifaceType == "dpdkvhostuserclient" && p.options["vhost-server-path"] != n.Socket:
		return fault(checker.CodeHostVhostUserDown, "the OVS-DPDK interface %s connects to %q, but QEMU serves %s: ovs-vsctl set Interface %s options:vhost-server-path=%s", t, p.options["vhost-server-path"], n.Socket, t, n.Socket)
	case p.admin == "down":
		return fault(checker.CodeHostVhostUserDown, "the OVS-DPDK interface %s on %s is administratively down: bring it up (ovs-ofctl mod-port %s %s up)", t, p.bridge, p.bridge, t)
	}
	return nil
}

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
