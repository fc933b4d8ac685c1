package libvirthost

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/guestagent"
)

// sysClassNet is where the node's network interfaces are.
const sysClassNet = "/sys/class/net"

// tapProblem says what is wrong with a NIC's tap on this node: down, or
// not enslaved to the bridge the domain XML names. It says nothing ("")
// when all is well or when it cannot tell: vmcheck does not run in the
// taps' network namespace (no such device), or the device there is not
// this NIC's tap — libvirt gives a tap the NIC's MAC with the first byte
// fe, which is checked so that another libvirtd's vnet0 is never taken for
// it.
func tapProblem(sysNet string, n checker.NIC) string {
	if n.Device == "" || strings.ContainsAny(n.Device, "/") || n.Device == "." || n.Device == ".." {
		return ""
	}
	dir := filepath.Join(sysNet, n.Device)
	addr, err := readSys(filepath.Join(dir, "address"))
	if err != nil || !isTapOf(addr, n.MAC) {
		return ""
	}
	if oper, err := readSys(filepath.Join(dir, "operstate")); err == nil && oper == "down" {
		return fmt.Sprintf("the tap %s is down on the node", n.Device)
	}
	if n.Bridge == "" {
		return ""
	}
	master := ""
	if link, err := os.Readlink(filepath.Join(dir, "master")); err == nil {
		master = filepath.Base(link)
	}
	switch master {
	case n.Bridge:
		return ""
	case "":
		return fmt.Sprintf("the tap %s is in no bridge on the node, not in %s", n.Device, n.Bridge)
	}
	return fmt.Sprintf("the tap %s is in %s on the node, not in %s", n.Device, guestagent.Sanitize(master, 16), n.Bridge)
}

// isTapOf reports whether a tap's address is libvirt's for the NIC's MAC:
// the same but the first byte, fe.
func isTapOf(tapAddr, mac string) bool {
	t, ok1 := guestagent.NormalMAC(tapAddr)
	m, ok2 := guestagent.NormalMAC(mac)
	return ok1 && ok2 && strings.HasPrefix(t, "fe:") && t[2:] == m[2:]
}

// readSys reads a small sysfs attribute.
func readSys(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return strings.TrimSpace(string(b)), nil
}
