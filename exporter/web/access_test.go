package web

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPageAccess(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("served")) })
	tests := []struct {
		name   string
		access PageAccess
		remote string
		host   string
		path   string
		want   int
	}{
		{"default: page from loopback", PageAccess{}, "127.0.0.1:4000", "localhost:9921", "/", 200},
		{"default: page from IPv6 loopback", PageAccess{}, "[::1]:4000", "[::1]:9921", "/vm/x", 200},
		{"default: page from the network", PageAccess{}, "192.0.2.7:4000", "node7:9921", "/", 403},
		{"default: API from the network", PageAccess{}, "192.0.2.7:4000", "192.0.2.1:9921", "/api/results", 403},
		{"default: VM page from the network", PageAccess{}, "[2001:db8::7]:4000", "node7", "/vm/1234", 403},
		{"default: metrics from the network", PageAccess{}, "192.0.2.7:4000", "node7:9921", "/metrics", 200},
		{"default: healthy from the network", PageAccess{}, "192.0.2.7:4000", "whatever", "/-/healthy", 200},
		{"local: mapped IPv4 loopback", PageAccess{Pages: PagesLocal}, "[::ffff:127.0.0.1]:4000", "127.0.0.1", "/", 200},
		{"local: vsock client", PageAccess{Pages: PagesLocal}, "vm(3):1024", "localhost", "/", 403},
		{"all: page from the network", PageAccess{Pages: PagesAll}, "192.0.2.7:4000", "192.0.2.1:9921", "/", 200},
		{"all: listed host", PageAccess{Pages: PagesAll, Hosts: []string{"Node7.example.com"}}, "192.0.2.7:4000", "node7.example.com.:9921", "/", 200},
		{"all: rebinding host", PageAccess{Pages: PagesAll, Hosts: []string{"node7"}}, "192.0.2.7:4000", "evil.example:9921", "/", 403},
		{"local: rebinding host from loopback", PageAccess{}, "127.0.0.1:4000", "evil.example:9921", "/api/results", 403},
		{"local: no host", PageAccess{}, "127.0.0.1:4000", "", "/", 403},
		{"local: rebinding host, metrics", PageAccess{}, "127.0.0.1:4000", "evil.example:9921", "/metrics", 200},
		{"off: page from loopback", PageAccess{Pages: PagesOff}, "127.0.0.1:4000", "localhost", "/", 404},
		{"off: metrics", PageAccess{Pages: PagesOff}, "192.0.2.7:4000", "node7", "/metrics", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.RemoteAddr, req.Host = tt.remote, tt.host
			rec := httptest.NewRecorder()
			tt.access.Handler(ok).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET %s from %s, Host %q = %d %q, want %d", tt.path, tt.remote, tt.host, rec.Code, rec.Body.String(), tt.want)
			}
			if served := rec.Body.String() == "served"; served != (tt.want == 200) {
				t.Errorf("GET %s: reached the pages = %t, want %t", tt.path, served, tt.want == 200)
			}
		})
	}
}

// TestServerPagesLocalByDefault runs a Server with no access settings: from
// loopback, the pages answer under the node's name and IP literals but not
// under another name, and /metrics answers under any.
func TestServerPagesLocalByDefault(t *testing.T) {
	addr := startLimited(t, Limits{}, PageAccess{})
	_, port, _ := strings.Cut(addr, ":")
	get := func(path, host string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		path, host string
		want       int
	}{
		{"/", addr, 200},
		{"/", "node7:" + port, 200},
		{"/api/results", "localhost:" + port, 200},
		{"/", "rebound.example:" + port, 403},
		{"/api/results", "rebound.example", 403},
		{"/metrics", "rebound.example", 200},
	} {
		if got := get(tt.path, tt.host); got != tt.want {
			t.Errorf("GET %s with Host %q = %d, want %d", tt.path, tt.host, got, tt.want)
		}
	}
}

// nonLoopbackAddr returns a free TCP address on a non-loopback IPv4
// address of this machine, or skips the test.
func nonLoopbackAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().Is4() || p.Addr().IsLoopback() {
			continue
		}
		l, err := net.Listen("tcp", netip.AddrPortFrom(p.Addr(), 0).String())
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// TestServerPagesFromTheNetwork runs a Server on a non-loopback address:
// a client there (this process, from that address) is refused the pages
// by default and served /metrics; with PagesAll it gets the pages.
func TestServerPagesFromTheNetwork(t *testing.T) {
	for _, tt := range []struct {
		pages     Pages
		wantPages int
	}{{"", 403}, {PagesAll, 200}, {PagesOff, 404}} {
		addr := startLimitedOn(t, nonLoopbackAddr(t), Limits{}, PageAccess{Pages: tt.pages})
		for _, path := range []string{"/", "/api/results", "/metrics"} {
			want := tt.wantPages
			if path == "/metrics" {
				want = 200
			}
			code, body, err := scrape("http://" + addr + path)
			if err != nil || code != want {
				t.Errorf("pages %q: GET %s from %s = %d, %v, want %d\n%s", tt.pages, path, addr, code, err, want, body)
			}
		}
	}
}

func TestParsePages(t *testing.T) {
	for _, s := range []string{"local", "all", "off"} {
		if p, err := ParsePages(s); err != nil || string(p) != s {
			t.Errorf("ParsePages(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "ALL", "none"} {
		if _, err := ParsePages(s); err == nil {
			t.Errorf("ParsePages(%q) = nil error, want one", s)
		}
	}
}

func TestWebConfigHasUsers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path    string
		want    bool
		wantErr bool
	}{
		{"", false, false},
		{write("tls.yml", "tls_server_config:\n  cert_file: a\n  key_file: b\n"), false, false},
		{write("auth.yml", "basic_auth_users:\n  prom: $2y$10$x\n"), true, false},
		{write("bad.yml", "basic_auth_users: [\n"), false, true},
		{filepath.Join(dir, "missing.yml"), false, true},
	}
	for _, tt := range tests {
		got, err := WebConfigHasUsers(tt.path)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("WebConfigHasUsers(%q) = %t, %v; want %t, error %t", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}
