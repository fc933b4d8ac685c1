package probe

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// curl is the tool of the tcp and http methods: Linux cloud images carry
// it (Alpine's only when installed), and Windows ships curl.exe since
// Windows 10 1803 and Server 2019. One invocation, no shell:
//
//	curl -sS -o NULL --proto =http,https --max-redirs 0 --connect-timeout S -m S
//	     -w "%{http_code} %{time_connect} %{time_total}" URL
//
// time_connect above zero says the TCP connection was made, whatever came
// after.
type curlResult struct {
	code      int // exit code, -1 for none
	http      int
	connected bool
	connect   time.Duration
	total     time.Duration
	errLine   string
}

func curlCommand(f osdetect.Family, url string, wait time.Duration) guestagent.Command {
	path, null := "curl", "/dev/null"
	if f == osdetect.Windows {
		path, null = "curl.exe", "NUL"
	}
	secs := strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)
	return guestagent.Command{Path: path, CaptureOutput: true, Args: []string{
		"-sS", "-o", null, "--proto", "=http,https", "--max-redirs", "0",
		"--connect-timeout", secs, "-m", secs,
		"-w", "%{http_code} %{time_connect} %{time_total}", url}}
}

// runCurl runs curl on url with the spec's wait.
func runCurl(ctx context.Context, env *Env, s Spec, url string) (curlResult, error) {
	wait := s.Timeout
	if wait == 0 {
		wait = DefaultDNSTimeout
	}
	cmd := curlCommand(env.Family, url, wait)
	st, err := env.Run(ctx, cmd, wait+5*time.Second) // curl's -m ends it first

	if err != nil {
		return curlResult{}, &toolError{text: execText(cmd.Path, err), missing: osdetect.IsSpawnFailure(err)}
	}
	return parseCurl(st)
}

// parseCurl reads curl's -w line and exit code.
func parseCurl(st guestagent.ExecStatus) (curlResult, error) {
	r := curlResult{code: exitCode(st), errLine: firstLine(st.Stderr)}
	fs := strings.Fields(string(st.Stdout[:min(len(st.Stdout), 256)]))
	if len(fs) < 3 {
		if r.code == 2 || r.code == 1 && strings.Contains(r.errLine, "option") {
			return r, fmt.Errorf("this guest's curl does not take vmcheck's options: %s", r.errLine)
		}
		return r, fmt.Errorf("curl printed no timings (exit %d): %s", r.code, r.errLine)
	}
	r.http, _ = strconv.Atoi(fs[0])
	r.connect, r.total = seconds(fs[1]), seconds(fs[2])
	r.connected = r.connect > 0 || r.http > 0
	if r.http < 0 || r.http > 999 {
		r.http = 0
	}
	return r, nil
}

// seconds reads curl's "0.001234" (a comma where the locale has one).
func seconds(s string) time.Duration {
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || v < 0 || v > 86400 {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}

// curl's exit codes vmcheck reads (curl's man page, EXIT CODES).
const (
	curlResolve = 6
	curlConnect = 7
	curlTimeout = 28
)

// hostAnswers pings host (an address) once, to tell a filtered or
// refused port from a host that does not answer at all. ok is false when
// host is a name or the ping could not be run.
func hostAnswers(ctx context.Context, env *Env, host string) (answers, ok bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false, false
	}
	e := plainEcho(ctx, env, a, 3) // any of three replies: loss is not a dead host
	return e.status == Passed, e.status == Passed || e.status == Failed
}

// curlFailure names why curl did not connect: the tcp_refused,
// tcp_filtered or dns_failure cause where the evidence allows one.
func curlFailure(ctx context.Context, env *Env, res Result, host string, port int, r curlResult) Result {
	res.Status = Failed
	switch r.code {
	case curlResolve:
		res.Cause, res.Error = cause.DNSFailure, fmt.Sprintf("%s does not resolve in the guest: %s", host, r.errLine)
		res.Detail = fmt.Sprintf("%s: the guest's resolver gives no address for %s; check the resolvers the guest was given", res.Target, host)
		return res
	case curlConnect, curlTimeout:
	default:
		res.Error = fmt.Sprintf("curl exit %d: %s", r.code, r.errLine)
		return res
	}
	answers, known := hostAnswers(ctx, env, host)
	switch {
	case !known:
		res.Error = fmt.Sprintf("no connection to port %d (%s); whether %s answers ping was not tested", port, r.errLine, host)
	case !answers:
		res.Error = fmt.Sprintf("no connection to port %d, and %s does not answer ping either: the host is unreachable, not just the port", port, host)
	case r.code == curlConnect:
		res.Cause, res.Error = cause.TCPRefused, fmt.Sprintf("connection to port %d refused (%s) while %s answers ping", port, r.errLine, host)
		res.Detail = fmt.Sprintf("%s: the host answers but refuses port %d (a reset): the service is not listening, or a firewall rejects it; check the service on %s and any REJECT rule", res.Target, port, host)
	default:
		res.Cause, res.Error = cause.TCPFiltered, fmt.Sprintf("no answer on port %d while %s answers ping", port, host)
		res.Detail = fmt.Sprintf("%s: %s answers ping but port %d never answers: a security group, network ACL or firewall drops it; allow TCP %d from this VM", res.Target, host, port, port)
	}
	return res
}
