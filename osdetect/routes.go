package osdetect

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vmcheck/vmcheck/guestagent"
)

// SourceGuestRoute is the DefaultRoutes source of agents with
// guest-network-get-route. The sources of each family's own method are
// declared in its package (linux.SourceGuestProcRoute,
// windows.SourceGuestRoutePrint).
const SourceGuestRoute = "guest-route"

// Limits on what DefaultRoutes reads from a guest.
const (
	RouteOutputLimit = 1 << 20 // bytes of a route table
	MaxRouteLines    = 16384   // lines a parser looks at (1 MiB is about 8000 routes)
	MaxIfaceRunes    = 64      // runes of an interface name
)

// DefaultRoute is a default route of a guest and what identifies its
// network interface: on Linux the interface name; on Windows the
// interface's IPv4 address (IPv4 routes) or its MAC (IPv6 routes, through
// route print's Interface List).
type DefaultRoute struct {
	Interface     string     // Linux interface name, sanitised
	InterfaceAddr netip.Addr // Windows IPv4: address of the interface
	MAC           string     // Windows IPv6: MAC of the interface in guestagent.NormalMAC form, when known
	Gateway       netip.Addr // next hop; a link-local IPv6 gateway carries its zone (Linux: interface name, Windows: interface index)
	Metric        int        // route metric as the guest reports it
}

// DefaultRoutes finds the default routes of a guest of family f.
//
// If the agent has guest-network-get-route enabled (QEMU ≥ 9.1, Linux) it
// is used (source "guest-route"); when it fails with an agent error the
// family's own method is used instead. Otherwise Linux guests have
// /proc/net/route and /proc/net/ipv6_route read with guest-file-*, or with
// "cat" when those commands are disabled (source "guest-proc-route"), and
// Windows guests run "route.exe print" (source "guest-route-print").
// info is the agent's guest-info; an empty Info means "unknown" and every
// command is tried.
//
// The routes come IPv4 first, then IPv6, each by ascending metric. When the
// agent listed more routes than are kept, the default routes among the kept
// ones come with an error wrapping guestagent.ErrTruncated.
func DefaultRoutes(ctx context.Context, c *guestagent.Client, f Family, info guestagent.Info) (routes []DefaultRoute, source string, err error) {
	fam, known := families[f]
	if info.Enabled("guest-network-get-route") || len(info.Commands) == 0 && fam.AgentRoutes {
		rs, err := c.NetworkRoutes(ctx)
		if err == nil || errors.Is(err, guestagent.ErrTruncated) {
			for _, r := range rs {
				if r.Destination.Bits() == 0 && r.Gateway.IsValid() && !r.Gateway.IsUnspecified() {
					routes = append(routes, DefaultRoute{Interface: r.Interface, Gateway: r.Gateway, Metric: r.Metric})
				}
			}
			return sortRoutes(routes), SourceGuestRoute, err
		}
		if !IsAgentError(err) {
			return nil, "", fmt.Errorf("default routes: %w", err)
		}
		// The agent refused (unknown, disabled or failed): fall back.
	}
	if !known {
		return nil, "", fmt.Errorf("default routes: no method for OS family %q", f)
	}
	routes, err = fam.Routes(ctx, c, info)
	return sortRoutes(routes), fam.RouteSource, err
}

// Usable reports whether an agent command may be tried: it is enabled, or
// guest-info is unknown.
func Usable(info guestagent.Info, name string) bool {
	return len(info.Commands) == 0 || info.Enabled(name)
}

func sortRoutes(rs []DefaultRoute) []DefaultRoute {
	slices.SortStableFunc(rs, func(a, b DefaultRoute) int {
		if a.Gateway.Is4() != b.Gateway.Is4() {
			if a.Gateway.Is4() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	return rs
}

// TooLong reports whether a route table may have been cut: it filled the
// bytes read, or has more lines than a parser looks at.
func TooLong(table []byte) bool {
	return len(table) >= RouteOutputLimit || bytes.Count(table, []byte{'\n'}) >= MaxRouteLines
}

// WithCut adds, when cut is true, a note wrapping guestagent.ErrTruncated
// to a successful parse of a route table that was read only in part: the
// routes found are used, and the cut is reported.
func WithCut(routes []DefaultRoute, err error) func(cut bool) ([]DefaultRoute, error) {
	return func(cut bool) ([]DefaultRoute, error) {
		if err != nil || !cut {
			return routes, err
		}
		return routes, fmt.Errorf("default routes: %w: the route table is longer than the %d bytes or %d lines read", guestagent.ErrTruncated, RouteOutputLimit, MaxRouteLines)
	}
}

// DefaultRoutesFewCalls is DefaultRoutes in fewer agent calls, for a
// family with such a method (Spec.FewCallsRoutes) and an agent without
// guest-network-get-route: a Linux guest whose agent has guest-exec and
// guest-exec-status enabled has both tables read by one "cat" — guest-exec
// and its status, two calls, against at least six of guest-file-*. When
// that cat cannot run or prints no table, DefaultRoutes' order follows.
func DefaultRoutesFewCalls(ctx context.Context, c *guestagent.Client, f Family, info guestagent.Info) ([]DefaultRoute, string, error) {
	if fam, ok := families[f]; ok && fam.FewCallsRoutes != nil && !info.Enabled("guest-network-get-route") {
		if routes, ok, err := fam.FewCallsRoutes(ctx, c, info); ok {
			return sortRoutes(routes), fam.RouteSource, err
		}
	}
	return DefaultRoutes(ctx, c, f, info)
}
