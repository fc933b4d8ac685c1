package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/exporter/web"
)

// TestServePageAccess checks who may read serve's pages for each
// combination of --web.pages and a web config with or without basic auth,
// parsing serve's own flags.
func TestServePageAccess(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.yml")
	tlsOnly := filepath.Join(dir, "tls.yml")
	for p, body := range map[string]string{auth: "basic_auth_users:\n  prom: $2y$10$x\n", tlsOnly: "tls_server_config: {}\n"} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args []string
		want web.Pages
		code int // exit code of a usage error; 0 if none
	}{
		{nil, web.PagesLocal, 0},
		{[]string{"--web.config.file", tlsOnly}, web.PagesLocal, 0},
		{[]string{"--web.config.file", auth}, web.PagesAll, 0},
		{[]string{"--web.config.file", auth, "--web.pages", "local"}, web.PagesLocal, 0},
		{[]string{"--web.pages", "all"}, web.PagesAll, 0},
		{[]string{"--web.pages", "off"}, web.PagesOff, 0},
		{[]string{"--web.pages", "public"}, "", 3},
	}
	for _, tt := range tests {
		var got web.PageAccess
		cmd := serveCommand()
		cmd.Action = func(c *cli.Context) error {
			var err error
			got, err = pageAccess(c, c.String("web.config.file"))
			return err
		}
		app := &cli.App{Name: "vmcheck", Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
		err := app.RunContext(context.Background(), append([]string{"vmcheck", "serve", "--web.allowed-host", "node7.example.com"}, tt.args...))
		var ec cli.ExitCoder
		switch {
		case tt.code != 0:
			if !errors.As(err, &ec) || ec.ExitCode() != tt.code {
				t.Errorf("serve %q: %v, want exit %d", tt.args, err, tt.code)
			}
		case err != nil:
			t.Errorf("serve %q: %v", tt.args, err)
		case got.Pages != tt.want || !slices.Equal(got.Hosts, []string{"node7.example.com"}):
			t.Errorf("serve %q: pages %q, hosts %q; want %q, [node7.example.com]", tt.args, got.Pages, got.Hosts, tt.want)
		case !strings.Contains(got.Refusals.Off, "--web.pages=off") || !strings.Contains(got.Refusals.NotLocal, "--web.pages") ||
			!strings.Contains(got.Refusals.Host, "--web.allowed-host"):
			t.Errorf("serve %q: refusals %+v do not name the flags that decide", tt.args, got.Refusals)
		}
	}
}
