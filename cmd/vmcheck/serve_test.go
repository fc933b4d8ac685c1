//go:build cgo

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeTestDriver runs vmcheck serve against libvirt's test driver
// with basic auth from a web config file, then stops it as SIGTERM would.
func TestServeTestDriver(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runApp(ctx, t, serveCommand(), "-c", "test:///default", "--external", "203.0.113.10", "--interval", "1s",
			"--web.listen-address", addr, "--web.config.file", webConfig, "--log-level", "error")
	}()

	get := func(path, user, pass string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	var code int
	var body string
	for time.Now().Before(deadline) {
		code, body = get("/metrics", "prom", "s3cret")
		if code == http.StatusOK && strings.Contains(body, `vmcheck_domain_state{domain="test",state="unknown"`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != http.StatusOK || !strings.Contains(body, "vmcheck_libvirt_up 1") || !strings.Contains(body, `domain="test"`) {
		t.Fatalf("GET /metrics = %d:\n%s", code, body)
	}
	if code, _ := get("/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without credentials = %d, want 401", code)
	}
	if code, _ := get("/", "prom", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong password = %d, want 401", code)
	}
	if code, page := get("/", "prom", "s3cret"); code != http.StatusOK || strings.Count(page, `<tr class="vm"`) != 1 {
		t.Errorf("GET / = %d with %d VM rows, want 200 and 1", code, strings.Count(page, `<tr class="vm"`))
	}

	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Errorf("serve exited %d after SIGTERM, want 0", c)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--interval", "10ms"},
		{"--down-after", "0"},
		{"--web.config.file", "/nonexistent/web.yml"},
	} {
		if code := runApp(context.Background(), t, serveCommand(), append([]string{"-c", "test:///default", "--web.listen-address", "127.0.0.1:0"}, args...)...); code != 3 {
			t.Errorf("vmcheck serve %v: exit %d, want 3", args, code)
		}
	}
}
