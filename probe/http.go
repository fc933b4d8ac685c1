package probe

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/probe/cause"
)

// The cause http names.
var _ = cause.Register(cause.HTTPFailure, "the URL answers with an unexpected status or the request fails after connecting (the service, a proxy or TLS)")

// The http method GETs a URL (http or https, no redirects followed) from
// inside the guest with curl (see curl.go) and checks the status against
// the expected class ("2xx", the default) or code; it reports the status
// and the total time. Certificate errors are failures: the guest's
// applications would fail the same way.
func init() {
	register("http", Method{
		Validate:   validateHTTP,
		Families:   []osdetect.Family{osdetect.Linux, osdetect.Windows},
		Run:        runHTTP,
		Standalone: true,
	})
}

func validateHTTP(s *Spec) error {
	if s.URL == "" {
		return fmt.Errorf("url: missing (e.g. \"http://203.0.113.1/\")")
	}
	if err := checkURL(s.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if s.Status == "" {
		s.Status = "2xx"
	}
	if !validStatus(s.Status) {
		return fmt.Errorf("status: %q is not a class such as \"2xx\" or a code such as \"204\"", s.Status)
	}
	return nil
}

// validStatus accepts "1xx"…"5xx" and codes 100–599.
func validStatus(s string) bool {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	if s[1:] == "xx" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// statusMatches reports whether code is what the spec expects.
func statusMatches(want string, code int) bool {
	got := strconv.Itoa(code)
	if want[1:] == "xx" {
		return got[0] == want[0]
	}
	return got == want
}

func runHTTP(ctx context.Context, env *Env, s Spec) []Result {
	res := Result{Method: "http", Target: s.URL}
	u, _ := url.Parse(s.URL)
	r, err := runCurl(ctx, env, s, s.URL)
	if err != nil {
		return []Result{fail(res, err)}
	}
	res.Measure.HTTPStatus, res.Measure.RTT = r.http, r.total
	if !r.connected {
		port, _ := strconv.Atoi(u.Port())
		if port == 0 {
			port = map[string]int{"http": 80, "https": 443}[u.Scheme]
		}
		return []Result{curlFailure(ctx, env, res, u.Hostname(), port, r)}
	}
	if r.http == 0 || r.code != 0 {
		res.Status, res.Cause = Failed, cause.HTTPFailure
		res.Error = fmt.Sprintf("connected, but no HTTP answer (curl exit %d: %s)", r.code, r.errLine)
		res.Detail = fmt.Sprintf("%s: the TCP connection is made but the request fails (%s): the server, a proxy or TLS is at fault", s.URL, r.errLine)
		return []Result{res}
	}
	if !statusMatches(s.Status, r.http) {
		res.Status, res.Cause = Failed, cause.HTTPFailure
		res.Error = fmt.Sprintf("status %d, expected %s", r.http, s.Status)
		res.Detail = fmt.Sprintf("%s answers %d, not %s: the service behind it is failing or the URL is wrong", s.URL, r.http, s.Status)
		return []Result{res}
	}
	res.Status = Passed
	return []Result{judge(res, s)}
}
