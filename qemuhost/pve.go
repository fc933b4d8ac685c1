package qemuhost

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/model"
)

// maxPVEConfig caps what is read of one VM config (pmxcfs itself refuses
// files over 1 MiB).
const maxPVEConfig = 1 << 20

// pveModels are the NIC models Proxmox VE writes as "<model>=<MAC>".
var pveModels = map[string]bool{
	"e1000": true, "e1000-82540em": true, "e1000-82544gc": true, "e1000-82545em": true, "e1000e": true,
	"i82551": true, "i82557b": true, "i82559er": true, "ne2k_isa": true, "ne2k_pci": true,
	"pcnet": true, "rtl8139": true, "virtio": true, "vmxnet3": true,
}

// maxPVEIPConfigs bounds the ipconfigN entries kept: Proxmox VE allows
// net0 to net31.
const maxPVEIPConfigs = 32

// cloudInitVolume is how Proxmox VE recognises its cloud-init drive
// (PVE::QemuServer::Drive::drive_is_cloudinit): a volume named
// [vm-<vmid>-]cloudinit[.<format>].
var cloudInitVolume = regexp.MustCompile(`[:/](?:vm-\d+-)?cloudinit(?:\.[a-z0-9]+)?$`)

// diskKey matches the config keys of drives that can hold the cloud-init
// drive.
var diskKey = regexp.MustCompile(`^(?:ide|sata|scsi|virtio)\d+$`)

// PVEConfig is what vmcheck reads from a Proxmox VE VM config,
// /etc/pve/qemu-server/<vmid>.conf.
type PVEConfig struct {
	Name  string
	UUID  string   // smbios1 uuid=, lower-case; "" if absent
	Agent *bool    // agent: enabled flag; nil if absent
	NICs  []PVENIC // netN entries, by N
	// CloudInit is whether the VM has a cloud-init drive, without which
	// its ipconfigN entries configure nothing.
	CloudInit bool
	// IPConfigs are the valid ipconfigN entries by N (at most
	// maxPVEIPConfigs); nil if none.
	IPConfigs map[int]PVEIPConfig
}

// PVENIC is one netN entry: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,…".
type PVENIC struct {
	Index  int            // N of netN
	Model  string         // "virtio", "e1000", …
	MAC    guestagent.MAC // "" if absent or invalid
	Bridge string         // "" for NAT (user-mode) networking
	// LinkDown is link_down=1: Proxmox VE keeps the NIC's link down
	// (QMP set_link at start and whenever the option changes).
	LinkDown bool
	// Firewall is firewall=1: the tap is behind Proxmox VE's firewall
	// bridge (tapNiM in fwbrNiM, fwlnNiM–fwprNpM into Bridge).
	Firewall bool
}

// PVEIPConfig is one cloud-init ipconfigN entry,
// "ip=192.0.2.5/24,gw=192.0.2.1,ip6=2001:db8::5/64,gw6=2001:db8::1":
// the static addresses (not "dhcp" or "auto", which say nothing of the
// address) and gateways.
type PVEIPConfig struct {
	Addrs    []netip.Addr
	Gateways []netip.Addr
}

// ReadPVEConfig reads dir/<id>.conf. A missing file is no error: it
// returns ok false.
func ReadPVEConfig(dir, id string) (cfg PVEConfig, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, id+".conf"))
	if errors.Is(err, fs.ErrNotExist) {
		return PVEConfig{}, false, nil
	}
	if err != nil {
		return PVEConfig{}, false, fmt.Errorf("proxmox config of %s: %w", id, err)
	}
	defer f.Close()
	cfg, err = ParsePVEConfig(io.LimitReader(f, maxPVEConfig))
	if err != nil {
		return PVEConfig{}, false, fmt.Errorf("proxmox config %s: %w", f.Name(), err)
	}
	return cfg, true, nil
}

// ParsePVEConfig parses the current section of a Proxmox VE VM config:
// "key: value" lines up to the first "[snapshot]" or "[PENDING]" section.
// Lines it does not need, or cannot read, are ignored; only a line longer
// than 1 MiB is an error.
func ParsePVEConfig(r io.Reader) (PVEConfig, error) {
	var cfg PVEConfig
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxPVEConfig)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			break // snapshots and pending changes follow
		}
		key, value, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case key == "name":
			cfg.Name = value
		case key == "smbios1":
			for _, kv := range strings.Split(value, ",") {
				if k, v, _ := strings.Cut(kv, "="); k == "uuid" {
					cfg.UUID = strings.ToLower(v)
				}
			}
		case key == "agent":
			cfg.Agent = parseAgent(value)
		case diskKey.MatchString(key):
			file, _, _ := strings.Cut(value, ",")
			cfg.CloudInit = cfg.CloudInit || cloudInitVolume.MatchString(file)
		case strings.HasPrefix(key, "ipconfig"):
			n, err := strconv.Atoi(key[len("ipconfig"):])
			ic, ok := parseIPConfig(value)
			_, seen := cfg.IPConfigs[n]
			if err != nil || n < 0 || !ok || (len(cfg.IPConfigs) >= maxPVEIPConfigs && !seen) {
				continue
			}
			if cfg.IPConfigs == nil {
				cfg.IPConfigs = map[int]PVEIPConfig{}
			}
			cfg.IPConfigs[n] = ic
		case strings.HasPrefix(key, "net"):
			n, err := strconv.Atoi(key[3:])
			if err != nil || n < 0 {
				continue
			}
			cfg.NICs = append(cfg.NICs, parseNIC(n, value))
		}
	}
	if err := sc.Err(); err != nil {
		return PVEConfig{}, err
	}
	sort.Slice(cfg.NICs, func(i, j int) bool { return cfg.NICs[i].Index < cfg.NICs[j].Index })
	return cfg, nil
}

func parseNIC(n int, value string) PVENIC {
	nic := PVENIC{Index: n}
	for _, kv := range strings.Split(value, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch {
		case k == "model":
			nic.Model = v
		case k == "macaddr":
			nic.MAC = normalMAC(v)
		case k == "bridge":
			nic.Bridge = v
		case k == "link_down":
			nic.LinkDown = parseBool(v) == 1
		case k == "firewall":
			nic.Firewall = parseBool(v) == 1
		case pveModels[k]:
			nic.Model, nic.MAC = k, normalMAC(v)
		}
	}
	return nic
}

// parseIPConfig reads an ipconfigN value as Proxmox VE's parse_ipconfig
// does: a gateway needs a static address of its family, else the whole
// entry is invalid (ok false), as are unknown keys and bad values.
func parseIPConfig(value string) (ic PVEIPConfig, ok bool) {
	var ip, gw [2]string // IPv4, IPv6
	for _, kv := range strings.Split(value, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "ip":
			ip[0] = v
		case "ip6":
			ip[1] = v
		case "gw":
			gw[0] = v
		case "gw6":
			gw[1] = v
		default:
			return PVEIPConfig{}, false
		}
	}
	for fam := range 2 {
		var addr netip.Addr
		if ip[fam] != "" && ip[fam] != "dhcp" && (fam == 0 || ip[fam] != "auto") {
			p, err := netip.ParsePrefix(ip[fam])
			if err != nil || p.Addr().Is4() != (fam == 0) {
				return PVEIPConfig{}, false
			}
			addr = p.Addr()
		}
		if addr.IsValid() && model.ValidateExpected(addr) == nil {
			ic.Addrs = append(ic.Addrs, addr)
		}
		if gw[fam] == "" {
			continue
		}
		g, err := netip.ParseAddr(gw[fam])
		if !addr.IsValid() || err != nil || g.Is4() != (fam == 0) {
			return PVEIPConfig{}, false
		}
		if model.ValidateExpected(g) == nil {
			ic.Gateways = append(ic.Gateways, g)
		}
	}
	return ic, true
}

// parseBool reads a Proxmox VE boolean: 1 true, 0 false, -1 neither.
func parseBool(v string) int {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "on", "yes", "true":
		return 1
	case "0", "off", "no", "false":
		return 0
	}
	return -1
}

// parseAgent reads the enabled flag of "agent: 1", "agent: enabled=0,…" or
// "agent: 1,fstrim_cloned_disks=1".
func parseAgent(value string) *bool {
	for i, kv := range strings.Split(value, ",") {
		k, v, hasEq := strings.Cut(kv, "=")
		if !hasEq && i == 0 {
			k, v = "enabled", kv
		}
		if k != "enabled" {
			continue
		}
		b := parseBool(v)
		if b < 0 {
			return nil
		}
		on := b == 1
		return &on
	}
	return nil
}

// normalMAC returns an Ethernet MAC in lower-case colon form, or the zero
// MAC.
func normalMAC(s string) guestagent.MAC {
	mac, _ := guestagent.ParseMAC(strings.TrimSpace(s))
	return mac
}

// pveHostSide is how a Proxmox VE NIC is plugged on the node and the
// inspection of its host side: a tap (tapNiM, its name its own: Proxmox VE
// does not give it the NIC's MAC) in the NIC's bridge, or behind the
// firewall bridge with firewall=1; a NIC without a bridge (user-mode NAT)
// has no host side vmcheck reads.
func pveHostSide(vm VM, n PVENIC, nic model.NIC) (string, model.HostInspector) {
	if n.Bridge == "" {
		return model.HostKindOther, nil
	}
	h := hostnic.NIC{Kind: model.HostKindBridge, MAC: nic.MAC, Device: nic.Device, Bridge: n.Bridge,
		OwnName: true, VMID: vm.ID, Index: strconv.Itoa(n.Index)}
	if n.Firewall {
		h.Kind = model.HostKindProxmoxFirewall
	}
	return h.Kind, hostnic.Options{}.Inspector(h)
}
