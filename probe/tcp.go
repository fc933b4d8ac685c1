package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// The causes tcp names (http's curl too, when it cannot connect).
var (
	_ = cause.Register(cause.TCPRefused, "the host answers ping but refuses the TCP port (the service is not listening, or a firewall rejects it)")
	_ = cause.Register(cause.TCPFiltered, "the host answers ping but the TCP port never answers: a security group or firewall drops it")
)

// The tcp method connects to host:port from inside the guest (curl, see
// curl.go): ok with the connect time; tcp_refused when the host answers
// ping but resets the connection; tcp_filtered when it answers ping but
// the port never answers (a security group or firewall drops it). The
// ping that tells them apart runs only after a failed connect.
func init() {
	register("tcp", Method{
		Validate:   validateTCP,
		Families:   []osdetect.Family{osdetect.Linux, osdetect.Windows},
		Run:        runTCP,
		Standalone: true,
	})
}

func validateTCP(s *Spec) error {
	if s.Target == "" {
		return fmt.Errorf("target: missing (host:port, e.g. \"203.0.113.1:443\")")
	}
	if _, _, err := splitHostPort(s.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	return nil
}

func runTCP(ctx context.Context, env *Env, s Spec) []Result {
	res := Result{Method: "tcp", Target: s.Target}
	host, port, _ := splitHostPort(s.Target)
	r, err := runCurl(ctx, env, s, tcpURL(host, port))
	if err != nil {
		return []Result{fail(res, err)}
	}
	if !r.connected {
		return []Result{curlFailure(ctx, env, res, host, port, r)}
	}
	res.Status, res.Measure.RTT = Passed, r.connect
	return []Result{judge(res, s)}
}

// tcpURL is the URL curl connects to for host:port: written as an http
// probe of the same server writes it (no :80), so that the engine runs
// one curl for both when a policy has the two.
func tcpURL(host string, port int) string {
	if port == 80 {
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			return "http://[" + host + "]/"
		}
		return "http://" + host + "/"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}
