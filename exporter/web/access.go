package web

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pages says who may read the status pages and the JSON API, which name
// every tenant's VMs, addresses and agent exchanges. /metrics and
// /-/healthy are not pages: Prometheus scrapes them from elsewhere.
type Pages string

// The values of --web.pages.
const (
	// PagesLocal serves the pages to loopback clients only (a browser on
	// the node, an SSH tunnel, a reverse proxy on the node).
	PagesLocal Pages = "local"
	// PagesAll serves the pages to every client that reaches the listen
	// address (and passes the web config's basic auth, if any).
	PagesAll Pages = "all"
	// PagesOff serves no page at all.
	PagesOff Pages = "off"
)

// ParsePages returns the Pages named by s.
func ParsePages(s string) (Pages, error) {
	switch p := Pages(s); p {
	case PagesLocal, PagesAll, PagesOff:
		return p, nil
	}
	return "", fmt.Errorf("%q is not one of local, all, off", s)
}

// PageAccess guards the pages and the JSON API of NewHandler's handler.
type PageAccess struct {
	// Pages says which clients may read them (PagesLocal if empty).
	Pages Pages
	// Hosts are the names the pages may be asked for in the Host header,
	// besides "localhost" and IP literals (which no DNS rebinding can
	// produce). A request naming another host is refused: a web page from
	// elsewhere that rebinds its own name to this node's address cannot
	// read the pages.
	Hosts []string
	// Refusals are the answers to a refused request; an empty one says
	// why in the library's words. The command points at its flags there.
	Refusals Refusals
}

// Refusals are the bodies of the answers that refuse a page: Off when the
// pages are off, NotLocal to a client that is not on the node, Host to a
// request naming a host that is not allowed.
type Refusals struct {
	Off, NotLocal, Host string
}

// withDefaults returns r with its empty answers in the library's words.
func (r Refusals) withDefaults() Refusals {
	r.Off = cmp.Or(r.Off, "the status pages are off; /metrics is served")
	r.NotLocal = cmp.Or(r.NotLocal, "the status pages answer only clients on this node")
	r.Host = cmp.Or(r.Host, "the status pages are not served under this host name")
	return r
}

// Handler returns next with the pages guarded: /metrics and /-/healthy go
// through unchanged; any other path is answered 404 when the pages are
// off, 403 from a client that is not loopback under PagesLocal, or whose
// Host is not allowed.
func (a PageAccess) Handler(next http.Handler) http.Handler {
	refuse := a.Refusals.withDefaults()
	hosts := make([]string, 0, len(a.Hosts))
	for _, h := range a.Hosts {
		hosts = append(hosts, normHost(h))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" || r.URL.Path == "/-/healthy" {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case a.Pages == PagesOff:
			http.Error(w, refuse.Off, http.StatusNotFound)
		case a.Pages != PagesAll && !loopbackClient(r.RemoteAddr):
			http.Error(w, refuse.NotLocal, http.StatusForbidden)
		case !allowedHost(r.Host, hosts):
			http.Error(w, refuse.Host, http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// loopbackClient reports whether remote (http.Request.RemoteAddr) is a
// loopback address; a vsock or unparsable address is not.
func loopbackClient(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// allowedHost reports whether the Host header host names an IP literal,
// localhost or one of hosts (normalised by normHost).
func allowedHost(host string, hosts []string) bool {
	h := normHost(host)
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return true
	}
	return h == "localhost" || slices.Contains(hosts, h)
}

// normHost returns host without its port and trailing dot, in lower case.
func normHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// WebConfigHasUsers reports whether the exporter-toolkit web config file
// at path sets basic_auth_users; "" has none.
func WebConfigHasUsers(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading the web config: %w", err)
	}
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return false, fmt.Errorf("parsing the web config %q: %w", path, err)
	}
	return len(c.Users) > 0, nil
}
