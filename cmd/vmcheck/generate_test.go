package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/clidoc"
)

// generated runs `vmcheck __generate what` in-process on an app with every
// command and returns its output.
func generated(t *testing.T, what string) string {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{
		Name: "vmcheck", Usage: "check VMs", Version: "1.2.3", Writer: &out,
		Commands:       []*cli.Command{checkCommand(), domainsCommand(), cronCommand(), serveCommand(), clidoc.Command()},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	if err := app.Run([]string{"vmcheck", "__generate", what}); err != nil {
		t.Fatalf("__generate %s: %v", what, err)
	}
	return out.String()
}

func TestGenerateUnknown(t *testing.T) {
	app := &cli.App{Name: "vmcheck", Commands: []*cli.Command{clidoc.Command()}, ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run([]string{"vmcheck", "__generate", "pdf"})
	if ec, ok := err.(cli.ExitCoder); !ok || ec.ExitCode() != 3 {
		t.Errorf("__generate pdf: %v, want exit 3", err)
	}
}

// TestManPage checks that the page is valid roff for man(1) and names every
// command and every flag.
func TestManPage(t *testing.T) {
	page := generated(t, "man")
	for _, c := range []*cli.Command{checkCommand(), domainsCommand(), cronCommand(), serveCommand()} {
		if !strings.Contains(page, `.SS "vmcheck `+c.Name+` [options]"`) {
			t.Errorf("man page has no section for %s", c.Name)
		}
		for _, f := range c.Flags {
			if df, ok := f.(cli.VisibleFlag); ok && !df.IsVisible() {
				continue
			}
			// In roff a flag's dashes are \- (clidoc's roffText).
			if name := `\fB` + strings.ReplaceAll("--"+f.Names()[0], "-", `\-`) + `\fR`; !strings.Contains(page, name) {
				t.Errorf("man page does not document %s --%s", c.Name, f.Names()[0])
			}
		}
	}
	if strings.Contains(page, "__generate") {
		t.Error("man page shows the hidden __generate command")
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed")
	}
	cmd := exec.Command(groff, "-man", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}

// TestBashCompletion sources the script in bash and completes a few
// command lines.
func TestBashCompletion(t *testing.T) {
	script := filepath.Join(t.TempDir(), "vmcheck")
	if err := os.WriteFile(script, []byte(generated(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	}
	for _, tc := range []struct {
		line string // words; the last one is being completed
		want []string
	}{
		{"vmcheck ", []string{"check", "cron", "domains", "serve"}},
		{"vmcheck check --out", []string{"--output"}},
		{"vmcheck cron --log-format ", []string{"json", "text"}},
		{"vmcheck serve --web.l", []string{"--web.listen-address"}},
		{"vmcheck check --connect ", nil},
		{"vmcheck cron --textfile-dir /", []string{"/etc"}},
	} {
		words := strings.Split(tc.line, " ")
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := `. "$1"; COMP_WORDS=(` + strings.Join(q, " ") + `); COMP_CWORD=` +
			strconv.Itoa(len(words)-1) + `; _vmcheck; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command("bash", "-c", prog, "bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !contains(got, w) {
				t.Errorf("completing %q = %q, want it to include %q", tc.line, got, w)
			}
		}
		if tc.want == nil && len(got) > 0 {
			t.Errorf("completing %q = %q, want nothing", tc.line, got)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestZshCompletion checks the zsh script's syntax and that compinit picks
// it up as the completion of vmcheck.
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "_vmcheck"), []byte(generated(t, "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", filepath.Join(dir, "_vmcheck")).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	prog := `fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$1/.zcompdump"; print -r -- $_comps[vmcheck]`
	out, err := exec.Command(zsh, "-f", "-c", prog, "zsh", dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_vmcheck" {
		t.Errorf("zsh compinit: completion of vmcheck = %q (%v), want _vmcheck", out, err)
	}
}

func TestFishCompletion(t *testing.T) {
	fish := generated(t, "fish")
	if !strings.Contains(fish, "complete -c vmcheck") || strings.Contains(fish, "__generate") {
		t.Errorf("fish completion:\n%s", fish)
	}
}

func TestVersionLine(t *testing.T) {
	got := clidoc.VersionLine("0.2.0", "0123456789ab")
	if !strings.HasPrefix(got, "vmcheck version 0.2.0 (commit 0123456789ab, go1.") {
		t.Errorf("VersionLine = %q", got)
	}
}
