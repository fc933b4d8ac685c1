package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// helperEnv makes the test binary run vmcheck's main instead of the tests
// (see TestDocsHelperProcess).
const helperEnv = "VMCHECK_DOCS_HELPER_PROCESS"

// TestDocsHelperProcess is not a test: run with helperEnv set, it is
// vmcheck itself, with the arguments after "--".
func TestDocsHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	args := os.Args
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	os.Args = append([]string{"vmcheck"}, args...)
	main()
	os.Exit(0)
}

// vmcheckHelp runs vmcheck (the test binary as main) with args and returns
// its standard output.
func vmcheckHelp(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestDocsHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmcheck %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// helpSection returns the lines of a urfave/cli help section ("COMMANDS:",
// "OPTIONS:", "GLOBAL OPTIONS:"), up to the next blank line.
func helpSection(help, title string) []string {
	var lines []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.TrimSpace(l) == title:
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in:
			lines = append(lines, l)
		}
	}
	return lines
}

// helpCommands returns the commands the top-level help lists, without
// urfave/cli's own "help".
func helpCommands(help string) []string {
	var cmds []string
	for _, l := range helpSection(help, "COMMANDS:") {
		f := strings.Fields(strings.ReplaceAll(l, ",", " "))
		if len(f) > 0 && f[0] != "help" {
			cmds = append(cmds, f[0])
		}
	}
	return cmds
}

// optionNameRE finds long flag names in the left column of an options line:
// "--connect URI, -c URI", "--domain NAME|UUID [ --domain NAME|UUID ]".
var optionNameRE = regexp.MustCompile(`(?:^|, )(--[a-z0-9][a-z0-9.-]*)`)

// helpFlags returns the long flags of a help text's options sections,
// without --help.
func helpFlags(help string) []string {
	var flags []string
	for _, l := range slices.Concat(helpSection(help, "OPTIONS:"), helpSection(help, "GLOBAL OPTIONS:")) {
		left, _, _ := strings.Cut(strings.TrimSpace(l), "  ") // the usage text follows two or more spaces
		for _, m := range optionNameRE.FindAllStringSubmatch(left, -1) {
			if m[1] != "--help" && !slices.Contains(flags, m[1]) {
				flags = append(flags, m[1])
			}
		}
	}
	return flags
}

// readDocs returns README.md and docs/*.md, joined.
func readDocs(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range append([]string{"../../README.md"}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDocsMentionEveryFlag fails when a command or flag of the vmcheck CLI,
// as its --help shows them, is mentioned nowhere in README.md or docs/*.md.
func TestDocsMentionEveryFlag(t *testing.T) {
	docs := readDocs(t)
	top := vmcheckHelp(t, "--help")
	cmds := helpCommands(top)
	if len(cmds) < 4 {
		t.Fatalf("vmcheck --help lists %q as commands; the help format changed?", cmds)
	}
	where := map[string][]string{} // flag → commands that have it
	for _, f := range helpFlags(top) {
		where[f] = append(where[f], "vmcheck")
	}
	for _, c := range cmds {
		if !regexp.MustCompile(`vmcheck ` + regexp.QuoteMeta(c) + `\b`).MatchString(docs) {
			t.Errorf("the docs never mention `vmcheck %s`", c)
		}
		flags := helpFlags(vmcheckHelp(t, c, "--help"))
		if len(flags) == 0 {
			t.Errorf("vmcheck %s --help lists no flags; the help format changed?", c)
		}
		for _, f := range flags {
			where[f] = append(where[f], c)
		}
	}
	for f, cmds := range where {
		// A mention is the flag itself, not the start of a longer one
		// (--web.config.file is no mention of --web.config).
		re := regexp.MustCompile(regexp.QuoteMeta(f) + `(?:[^a-z0-9.-]|\.[^a-z0-9-]|$)`)
		if !re.MatchString(docs) {
			t.Errorf("%s (%s) is mentioned nowhere in README.md or docs/*.md", f, strings.Join(cmds, ", "))
		}
	}
}

// TestHelpParsing keeps the help parsing above honest on a fixed sample of
// urfave/cli v2's format.
func TestHelpParsing(t *testing.T) {
	help := `NAME:
   vmcheck serve - serve

USAGE:
   vmcheck serve [command options]

COMMANDS:
   check    ping, then --not-a-flag
   help, h  Shows a list of commands or help for one command

OPTIONS:
   --connect URI, -c URI                      libvirt URI (see --config)
   --domain NAME|UUID [ --domain NAME|UUID ]  check only this domain
   --web.listen-address ADDRESS               listen here
   --help, -h                                 show help

GLOBAL OPTIONS:
   --version, -v  print the version
`
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"commands", helpCommands(help), []string{"check"}},
		{"flags", helpFlags(help), []string{"--connect", "--domain", "--web.listen-address", "--version"}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
