package osdetect

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Family is a guest operating system family. Each family lives in a
// package of its own that registers it (Linux in osdetect/linux, Windows
// in osdetect/windows); Unknown is the family of a guest Detect could not
// place.
type Family string

// Unknown is the family of a guest whose operating system is not known.
const Unknown Family = "unknown"

// The names of the families osdetect/linux and osdetect/windows register.
// They are names only: a family is known once its package is linked in
// (cmd/vmcheck imports osdetect/families).
const (
	// Linux is the family of Linux guests: any guest whose
	// guest-get-osinfo has an id no other family claims, or whose agent
	// cannot spawn the probe of another family (cmd.exe).
	Linux Family = "linux"
	// Windows is the family of Windows guests: guest-get-osinfo id
	// "mswindows", or a guest where "cmd.exe /c ver" names Microsoft
	// Windows.
	Windows Family = "windows"
)

// Spec is what vmcheck knows about one OS family: how to recognise it,
// how to ping from inside it and read the result, how to find its
// default routes, and how to read the evidence of a failed gateway. Each
// family's package passes its Spec to Register from an init function, so
// adding a family (FreeBSD, say) is adding one package and its tests, and
// a blank import where the program is assembled.
type Spec struct {
	// OSInfoIDs are the guest-get-osinfo ids that name the family,
	// compared case-insensitively.
	OSInfoIDs []string
	// Fallback marks the family of a guest whose guest-get-osinfo id no
	// family claims, and of a guest whose agent cannot spawn the probes
	// of the other families (Linux). At most one family is the fallback.
	Fallback bool
	// OSInfoVersion, if set, derives a version from guest-get-osinfo when
	// neither version-id nor version is known.
	OSInfoVersion func(oi guestagent.OSInfo) string
	// Probe, if set, is the command Detect runs when guest-get-osinfo
	// gives no id, and how to read it.
	Probe *Probe

	// Ping returns the guest command that sends one echo request to
	// target and waits up to timeout for the reply. target is valid,
	// unmapped, and zoned exactly when it is link-local IPv6; timeout is at
	// most an hour.
	Ping func(target netip.Addr, timeout time.Duration) guestagent.Command
	// ParsePing interprets the status of a ping command that has exited.
	ParsePing func(target netip.Addr, st guestagent.ExecStatus) PingResult

	// AgentRoutes says that the family's agents may have
	// guest-network-get-route, so DefaultRoutes tries it when guest-info
	// is unknown.
	AgentRoutes bool
	// Routes reads the default routes the family's own way, used when
	// guest-network-get-route is not available; RouteSource names that
	// way in DefaultRoutes' result.
	Routes      func(ctx context.Context, c *guestagent.Client, info guestagent.Info) ([]DefaultRoute, error)
	RouteSource string
	// FewCallsRoutes, if set, is DefaultRoutesFewCalls' method for an
	// agent without guest-network-get-route: ok false means it could not
	// tell (DefaultRoutes' order follows); its routes are of RouteSource.
	FewCallsRoutes func(ctx context.Context, c *guestagent.Client, info guestagent.Info) (routes []DefaultRoute, ok bool, err error)

	// Evidence, if set, returns the next guest command (at most
	// MaxEvidenceCommands in all) that reads the link state of interface
	// iface and the neighbour table entry of gateway gw (valid, unmapped),
	// given the reads of the commands it returned before; ParseEvidence
	// reads them. NextEvidence and ParseEvidence (the functions) use them.
	Evidence      func(iface string, gw netip.Addr, reads []EvidenceRead) (EvidenceStep, bool, error)
	ParseEvidence func(iface string, gw netip.Addr, reads []EvidenceRead) (Evidence, error)
}

// Probe is a command whose output identifies a family when
// guest-get-osinfo gives no id.
type Probe struct {
	// Command is run with output captured; at most 4 KiB is read.
	Command guestagent.Command
	// Title names the family in Detect's errors, e.g. "Windows".
	Title string
	// Identify returns what the output of Command, which exited 0, says
	// about the guest (Source SourceProbe), or false when it does not
	// name the family.
	Identify func(stdout []byte) (Info, bool)
}

// families holds every known family; each family's package adds itself.
var families = map[Family]Spec{}

// Register adds a family to the table; call it from the init function of
// the family's package. Registering a name twice, a second fallback
// family, or a family without its ping and route methods, is a
// programming error.
func Register(name Family, f Spec) {
	if _, dup := families[name]; dup || name == Unknown || name == "" {
		panic(fmt.Sprintf("osdetect: family %q registered twice or reserved", name))
	}
	if f.Ping == nil || f.ParsePing == nil || f.Routes == nil || f.RouteSource == "" {
		panic(fmt.Sprintf("osdetect: family %q lacks a ping or route method", name))
	}
	if other, ok := fallback(); ok && f.Fallback {
		panic(fmt.Sprintf("osdetect: family %q is a second fallback after %q", name, other))
	}
	families[name] = f
}

// familyOfID returns the family whose OSInfoIDs hold id, if any.
func familyOfID(id string) (Family, Spec, bool) {
	for name, f := range families {
		for _, known := range f.OSInfoIDs {
			if strings.EqualFold(id, known) {
				return name, f, true
			}
		}
	}
	return "", Spec{}, false
}

// fallback returns the name of the fallback family, if one is registered.
func fallback() (Family, bool) {
	for name, f := range families {
		if f.Fallback {
			return name, true
		}
	}
	return "", false
}

// probing returns the families with a Probe, by name.
func probing() []Family {
	var names []Family
	for name, f := range families {
		if f.Probe != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
