package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// The cause dns names (http's curl too, for a name that does not resolve).
var _ = cause.Register(cause.DNSFailure, "a name does not resolve through the guest's own resolver (the resolvers the guest was given, or the DNS server)")

// The dns method resolves a name through the guest's own resolver — what
// its applications use (Linux: NSS, so /etc/hosts, resolv.conf and
// systemd-resolved as the guest has them), never a query vmcheck aims at a
// server of its choosing — and, with expect, checks the answer.
//
//	Linux (glibc's or musl's getent): getent ahosts NAME   exit 2: not found, or no resolver answered
//	Windows:                          nslookup.exe NAME    says which: "Non-existent domain" / "timed out"
//
// getent cannot tell a name that does not exist from a resolver that does
// not answer; a getent that has not exited by the probe's timeout is a
// resolver that does not answer.
func init() {
	register("dns", Method{
		Validate:   validateDNS,
		Families:   []osdetect.Family{osdetect.Linux, osdetect.Windows},
		Run:        runDNS,
		Standalone: true,
	})
}

// DefaultDNSTimeout is how long a dns probe's lookup, or a tcp or http
// probe's curl, may run in the guest by default: a resolver or a server
// that has not answered by then fails the guest's applications too
// (glibc waits 5 s per try).
const DefaultDNSTimeout = 5 * time.Second

// maxAddrs bounds the addresses a dns probe keeps.
const maxAddrs = 8

func validateDNS(s *Spec) error {
	if s.Name == "" {
		return errors.New("name: missing (the host name to resolve, e.g. www.example.com)")
	}
	if _, err := netip.ParseAddr(s.Name); err == nil {
		return fmt.Errorf("name: %q is an address, not a name", s.Name)
	}
	if err := ValidHostname(s.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if s.Expect.IsValid() {
		if err := osdetect.ValidateOperatorTarget(s.Expect); err != nil {
			return fmt.Errorf("expect: %w", err)
		}
	}
	return nil
}

func dnsCommand(f osdetect.Family, name string) guestagent.Command {
	if f == osdetect.Windows {
		return guestagent.Command{Path: "nslookup.exe", Args: []string{name}, CaptureOutput: true}
	}
	return guestagent.Command{Path: "getent", Args: []string{"ahosts", name}, CaptureOutput: true}
}

func runDNS(ctx context.Context, env *Env, s Spec) []Result {
	res := Result{Method: "dns", Target: s.Name}
	wait := s.Timeout
	if wait == 0 {
		wait = DefaultDNSTimeout
	}
	cmd := dnsCommand(env.Family, s.Name)
	st, err := env.Run(ctx, cmd, wait)
	switch {
	case err != nil && errors.Is(err, guestagent.ErrExecTimeout) && ctx.Err() == nil:
		return []Result{dnsFailed(res, fmt.Sprintf("no resolver answered within %s", wait))}
	case err != nil:
		return []Result{fail(res, &toolError{text: execText(cmd.Path, err), missing: osdetect.IsSpawnFailure(err)})}
	}
	return []Result{checkExpect(parseDNS(env.Family, res, st), s)}
}

// parseDNS reads getent's or nslookup's answer.
func parseDNS(f osdetect.Family, res Result, st guestagent.ExecStatus) Result {
	if f == osdetect.Windows {
		return parseNslookup(res, st)
	}
	switch code := exitCode(st); code {
	case 0:
		res.Measure.Addrs = fieldAddrs(string(st.Stdout[:min(len(st.Stdout), OutputLimit)]), 0)
		if len(res.Measure.Addrs) == 0 {
			res.Status, res.Error = Error, "getent printed no address"
			return res
		}
		res.Status = Passed
		return res
	case 2:
		return dnsFailed(res, "the name did not resolve: it does not exist, or no resolver answered (getent cannot tell which)")
	default:
		return fail(res, fmt.Errorf("getent exited %d: %s", code, firstLine(st.Stderr)))
	}
}

// fieldAddrs collects the addresses in column col of each line, unique,
// at most maxAddrs.
func fieldAddrs(text string, col int) []netip.Addr {
	var out []netip.Addr
	for _, l := range strings.Split(text, "\n") {
		fs := strings.Fields(l)
		if len(fs) <= col {
			continue
		}
		a, err := netip.ParseAddr(fs[col])
		if err != nil || slices.Contains(out, a) {
			continue
		}
		if out = append(out, a.WithZone("")); len(out) == maxAddrs {
			break
		}
	}
	return out
}

// parseNslookup reads nslookup.exe: the addresses after "Name:", or
// "Non-existent domain", or a timeout.
func parseNslookup(res Result, st guestagent.ExecStatus) Result {
	text := string(st.Stdout[:min(len(st.Stdout), OutputLimit)]) + "\n" + string(st.Stderr[:min(len(st.Stderr), OutputLimit)])
	lower := strings.ToLower(text)
	_, after, named := strings.Cut(text, "\nName:")
	switch {
	case named:
		for _, l := range strings.Split(after, "\n")[1:] {
			l = strings.TrimSpace(l)
			if _, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(l, "Address") {
				l = strings.TrimSpace(v)
			}
			if a, err := netip.ParseAddr(l); err == nil && len(res.Measure.Addrs) < maxAddrs {
				res.Measure.Addrs = append(res.Measure.Addrs, a.WithZone(""))
			}
		}
		if len(res.Measure.Addrs) > 0 {
			res.Status = Passed
			return res
		}
	case strings.Contains(lower, "non-existent domain"), strings.Contains(lower, "nonexistent domain"):
		return dnsFailed(res, "the name does not exist (NXDOMAIN from the guest's resolver)")
	case strings.Contains(lower, "timed out") || strings.Contains(lower, "timed-out") || strings.Contains(lower, "no response from server"):
		return dnsFailed(res, "no resolver answered (nslookup timed out)")
	}
	return fail(res, fmt.Errorf("nslookup named no address: %s", firstLine(st.Stdout)))
}

func dnsFailed(res Result, why string) Result {
	res.Status, res.Cause, res.Error = Failed, cause.DNSFailure, why
	res.Detail = fmt.Sprintf("%s: %s; applications in the guest cannot reach anything by name: check the resolvers the guest was given (DHCP, cloud-init, /etc/resolv.conf or the adapter's DNS servers) and that they answer from this network", res.Target, why)
	return res
}

// checkExpect fails a passed probe whose answer lacks the expected address.
func checkExpect(res Result, s Spec) Result {
	if res.Status != Passed || !s.Expect.IsValid() || slices.Contains(res.Measure.Addrs, s.Expect) {
		return res
	}
	got := make([]string, len(res.Measure.Addrs))
	for i, a := range res.Measure.Addrs {
		got[i] = a.String()
	}
	return dnsFailed(res, fmt.Sprintf("resolves to %s, not the expected %s", strings.Join(got, ", "), s.Expect))
}
