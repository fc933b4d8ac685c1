package hostnic

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

// Defaults of Options.
const (
	// DefaultSysNet is where the node's network interfaces are.
	DefaultSysNet = "/sys/class/net"
	// DefaultSysPCI is where the node's PCI devices are.
	DefaultSysPCI = "/sys/bus/pci/devices"
	// DefaultOVSDB is Open vSwitch's database socket (ovs-vsctl's default).
	DefaultOVSDB = "unix:/var/run/openvswitch/db.sock"
)

// Settings are the host-side reads' keys of the config file: not a
// backend's, every backend's NICs of a kind read the same host.
type Settings struct {
	// OVSDB is the Open vSwitch database (an OVSDB unix socket remote)
	// read for Open vSwitch and vhost-user NICs after a failed check; ""
	// means DefaultOVSDB.
	OVSDB string `yaml:"ovsdb"`
}

// Section is the host-side reads' part of a settings.Config
// (Config.Sections): Section.Of(cfg.Sections) reads its Settings.
var Section = config.Register("hostnic", config.SectionOptions[Settings]{Validate: Settings.validate})

// validate checks the OVSDB remote.
func (s Settings) validate(config.Values) error {
	if err := ValidateOVSDB(s.OVSDB); err != nil {
		return &config.FieldError{Key: "ovsdb", Err: err}
	}
	return nil
}

// ValidateOVSDB checks an OVSDB remote for Settings.OVSDB: unix:PATH or
// PATH, PATH absolute and clean ("" is the default).
func ValidateOVSDB(remote string) error {
	p := strings.TrimPrefix(remote, "unix:")
	if remote == "" {
		return nil
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsAny(p, ",\x00\n") {
		return fmt.Errorf("%q is not an OVSDB unix socket: want unix:/ABSOLUTE/PATH (default %s)", remote, DefaultOVSDB)
	}
	return nil
}

// NIC is what a backend knows of a NIC's host side from the domain
// definition.
type NIC struct {
	// Kind is one of model.HostKind*.
	Kind string
	// MAC is the guest's MAC of the NIC.
	MAC guestagent.MAC
	// Device is the host device: tap or macvtap name; for vhost-user the
	// OVS interface name (the target dev, else the socket's base name).
	Device string
	// Bridge is the Linux or Open vSwitch bridge the domain names.
	Bridge string
	// InterfaceID is the Open vSwitch port's iface-id the domain names
	// (<virtualport><parameters interfaceid=…>: Nova's port id).
	InterfaceID string
	// NovaPort is the id of the Nova port (instance metadata) the NIC was
	// matched with, "" if none.
	NovaPort string
	// Lower and Mode are a macvtap's source dev and mode.
	Lower, Mode string
	// Socket and SocketMode are a vhost-user NIC's unix socket and
	// QEMU's role on it (client or server).
	Socket, SocketMode string
	// PCI is an SR-IOV VF's PCI address (0000:03:10.2).
	PCI string
	// VMID and Index are a Proxmox VE NIC's VM id and netN index.
	VMID, Index string
	// OwnName says the tap's name alone is the NIC's (Proxmox VE's tapNiM);
	// otherwise the tap must carry libvirt's address for the NIC's MAC.
	OwnName bool
}

// Options says where the host side is read.
type Options struct {
	// SysNet is /sys/class/net; "" means DefaultSysNet.
	SysNet string
	// SysPCI is /sys/bus/pci/devices; "" means DefaultSysPCI.
	SysPCI string
	// OVSDB is the OVSDB remote ovs-vsctl talks to; "" means DefaultOVSDB.
	OVSDB string
	// Run runs a command and returns its standard output, at most
	// maxOutput bytes; nil means exec (no shell). Tests replace it.
	Run Runner
}

// Runner runs argv (argv[0] looked up in PATH, never a shell) until ctx
// ends, returning its standard output, capped.
type Runner func(ctx context.Context, argv []string) ([]byte, error)

// inspectFunc is one kind's inspection.
type inspectFunc func(ctx context.Context, o Options, n NIC) model.HostSide

// kinds holds each kind's inspection; each kind's file registers its own.
var kinds = map[string]inspectFunc{}

// register adds a kind's inspection (at init).
func register(kind string, f inspectFunc) { kinds[kind] = f }

// Inspector is the model.HostInspector of one NIC.
type Inspector struct {
	NIC  NIC
	Opts Options
}

var _ model.HostInspector = Inspector{}

// Inspector returns the inspection of n's host side, nil when no kind
// reads it (the engine then reports the host side unknown).
func (o Options) Inspector(n NIC) model.HostInspector {
	if _, ok := kinds[n.Kind]; !ok {
		return nil
	}
	return Inspector{NIC: n, Opts: o}
}

// InspectHost reads the NIC's host side by its kind.
func (in Inspector) InspectHost(ctx context.Context) model.HostSide {
	f, ok := kinds[in.NIC.Kind]
	if !ok {
		return unknown(in.NIC.Kind, "vmcheck does not read this kind of NIC on the host")
	}
	o := in.Opts
	if o.SysNet == "" {
		o.SysNet = DefaultSysNet
	}
	if o.SysPCI == "" {
		o.SysPCI = DefaultSysPCI
	}
	if o.OVSDB == "" {
		o.OVSDB = DefaultOVSDB
	}
	if o.Run == nil {
		o.Run = execRun
	}
	hs := f(ctx, o, in.NIC)
	hs.Kind = in.NIC.Kind
	return hs
}

// Unreadable is the inspection of a host side vmcheck cannot read at all
// (a remote libvirt URI: the node is another machine), saying why.
type Unreadable struct {
	Kind, Why string
}

// InspectHost says the host side is unknown, and why.
func (u Unreadable) InspectHost(context.Context) model.HostSide { return unknown(u.Kind, u.Why) }

// unknown is a host side vmcheck cannot read, and why.
func unknown(kind, why string, facts ...string) model.HostSide {
	return model.HostSide{Kind: kind, Note: why, Facts: facts}
}

// known is a host side read whole, with its fault if any.
func known(kind string, facts []string, fault *model.HostFault) model.HostSide {
	return model.HostSide{Kind: kind, Known: true, Facts: facts, Fault: fault}
}

// fault builds a HostFault.
func fault(code model.Code, format string, a ...any) *model.HostFault {
	return &model.HostFault{Code: code, Detail: fmt.Sprintf(format, a...)}
}

// devName matches the host device and bridge names vmcheck reads in sysfs
// or passes in an argv: Linux interface names and OVS port names as
// libvirt, Nova/os-vif and Proxmox VE make them.
var devName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`)

// validName reports whether s is a device name safe in a path and an argv.
func validName(s string) bool { return devName.MatchString(s) && s != "." && s != ".." }

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

// link is what sysfs says of one network device.
type link struct {
	exists    bool
	addr      string // address
	oper      string // operstate
	adminUp   bool   // IFF_UP in flags (true when flags cannot be read)
	master    string // base name of the master link, "" for none
	carrierOK bool   // carrier reads 1
}

// readLink reads a device's sysfs facts; exists is false when there is no
// such device (or the name is not one vmcheck reads).
func readLink(sysNet, name string) link {
	if !validName(name) {
		return link{}
	}
	dir := filepath.Join(sysNet, name)
	oper, err := readSys(filepath.Join(dir, "operstate"))
	if err != nil {
		return link{}
	}
	l := link{exists: true, oper: oper, adminUp: true}
	l.addr, _ = readSys(filepath.Join(dir, "address"))
	if flags, err := readSys(filepath.Join(dir, "flags")); err == nil {
		var v uint64
		if _, err := fmt.Sscanf(flags, "0x%x", &v); err == nil {
			l.adminUp = v&1 != 0
		}
	}
	if c, err := readSys(filepath.Join(dir, "carrier")); err == nil {
		l.carrierOK = c == "1"
	}
	if m, err := os.Readlink(filepath.Join(dir, "master")); err == nil {
		l.master = guestagent.Sanitize(filepath.Base(m), 64)
	}
	return l
}

// isTapOf reports whether a tap's address is libvirt's for the NIC's MAC:
// the same but the first byte, fe.
func isTapOf(tapAddr string, mac guestagent.MAC) bool {
	t, ok := guestagent.ParseMAC(tapAddr)
	return ok && mac.Valid() && strings.HasPrefix(t.String(), "fe:") && t[2:] == mac[2:]
}

// down reports whether an operstate says the link cannot pass traffic.
func down(oper string) bool {
	return oper == "down" || oper == "lowerlayerdown" || oper == "notpresent"
}

// sameMAC reports whether a, a MAC in any spelling the host reports, is
// the NIC's mac.
func sameMAC(a string, mac guestagent.MAC) bool {
	x, ok := guestagent.ParseMAC(a)
	return ok && mac.Valid() && x == mac
}
