package osdetect

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// Family is a guest operating system family. The families osdetect knows
// are declared in their own files (Linux in linux.go, Windows in
// windows.go); Unknown is the family of a guest Detect could not place.
type Family string

// Unknown is the family of a guest whose operating system is not known.
const Unknown Family = "unknown"

// family is what vmcheck knows about one OS family: how to recognise it,
// how to ping from inside it and read the result, and how to find its
// default routes. Each family lives in a file of its own that registers it
// in families from an init function, so adding a family (FreeBSD, say) is
// adding one file and its tests.
type family struct {
	// osinfoIDs are the guest-get-osinfo ids that name the family,
	// compared case-insensitively. An id no family claims is Linux.
	osinfoIDs []string
	// osinfoVersion, if set, derives a version from guest-get-osinfo when
	// neither version-id nor version is known.
	osinfoVersion func(oi guestagent.OSInfo) string

	// ping returns the guest command that sends one echo request to
	// target and waits up to timeout for the reply. target is valid,
	// unmapped, and zoned exactly when it is link-local IPv6; timeout is at
	// most maxPingTimeout.
	ping func(target netip.Addr, timeout time.Duration) guestagent.Command
	// parsePing interprets the status of a ping command that has exited.
	parsePing func(target netip.Addr, st guestagent.ExecStatus) PingResult

	// agentRoutes says that the family's agents may have
	// guest-network-get-route, so DefaultRoutes tries it when guest-info
	// is unknown.
	agentRoutes bool
	// routes reads the default routes the family's own way, used when
	// guest-network-get-route is not available; routeSource names that
	// way in DefaultRoutes' result.
	routes      func(ctx context.Context, c *guestagent.Client, info guestagent.Info) ([]DefaultRoute, error)
	routeSource string

	// evidence, if set, returns the next guest command (at most
	// MaxEvidenceCommands in all) that reads the link state of interface
	// iface and the neighbour table entry of gateway gw (valid, unmapped),
	// given the reads of the commands it returned before; parseEvidence
	// reads them. NextEvidence and ParseEvidence use them.
	evidence      func(iface string, gw netip.Addr, reads []EvidenceRead) (EvidenceStep, bool, error)
	parseEvidence func(iface string, gw netip.Addr, reads []EvidenceRead) (Evidence, error)
}

// families holds every known family; each family's file adds itself.
var families = map[Family]family{}

// register adds a family to the table. Registering a name twice, or a
// family without its ping and route methods, is a programming error.
func register(name Family, f family) {
	if _, dup := families[name]; dup || name == Unknown || name == "" {
		panic(fmt.Sprintf("osdetect: family %q registered twice or reserved", name))
	}
	if f.ping == nil || f.parsePing == nil || f.routes == nil || f.routeSource == "" {
		panic(fmt.Sprintf("osdetect: family %q lacks a ping or route method", name))
	}
	families[name] = f
}

// familyOfID returns the family whose osinfoIDs hold id, if any.
func familyOfID(id string) (Family, family, bool) {
	for name, f := range families {
		for _, known := range f.osinfoIDs {
			if strings.EqualFold(id, known) {
				return name, f, true
			}
		}
	}
	return "", family{}, false
}
