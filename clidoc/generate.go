// Package clidoc writes vmcheck(1) and the bash, zsh and fish completion
// scripts from the CLI definition itself (the hidden __generate command).
package clidoc

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/output"
)

// Command is the hidden `vmcheck __generate man|bash|zsh|fish`: the man
// page and the shell completions, written from this binary's own commands
// and flags, so they never drift from the CLI. `make package` runs it.
// Usage errors exit with output.ExitError.
func Command() *cli.Command {
	return &cli.Command{
		Name:      "__generate",
		Hidden:    true,
		Usage:     "write the man page or a shell completion script for this vmcheck to stdout",
		ArgsUsage: "man|bash|zsh|fish",
		Action: func(c *cli.Context) error {
			what := c.Args().First()
			gen, ok := generators[what]
			if c.NArg() != 1 || !ok {
				return usageError("__generate: want one of man, bash, zsh, fish")
			}
			out, err := gen(c.App)
			if err != nil {
				return usageError("__generate %s: %v", what, err)
			}
			if _, err := io.WriteString(c.App.Writer, out); err != nil {
				return usageError("__generate %s: %v", what, err)
			}
			return nil
		},
	}
}

func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), output.ExitError)
}

// generators are the outputs of __generate.
var generators = map[string]func(*cli.App) (string, error){
	"man":  manPage,
	"bash": func(a *cli.App) (string, error) { return bashCompletion(cliCommands(a)), nil },
	"zsh":  func(a *cli.App) (string, error) { return zshCompletion(cliCommands(a)), nil },
	"fish": func(a *cli.App) (string, error) { return a.ToFishCompletion() },
}

// flagValues are the values of the flags that take one of a fixed set.
var flagValues = map[string][]string{
	"output":     formatNames(),
	"log-level":  {"debug", "info", "warn", "error"},
	"log-format": {"text", "json"},
}

// formatNames are the values of --output.
func formatNames() []string {
	var out []string
	for _, f := range output.Formats() {
		out = append(out, string(f))
	}
	return out
}

// compFlag is one flag as the completion scripts see it.
type compFlag struct {
	names  []string // "--connect", "-c"
	usage  string   // without the `placeholder` quotes
	arg    string   // placeholder of its value ("FILE"); "" for a boolean flag
	values []string // fixed set of values, if any
	repeat bool     // may be given more than once
	def    string   // default value shown in help, if any
}

// compCommand is one command (or the app itself, name "") with its flags.
type compCommand struct {
	names []string
	usage string
	flags []compFlag
}

// cliCommands returns the app's global flags (as the command named "") and
// every visible command with its visible flags, sorted by name.
func cliCommands(a *cli.App) []compCommand {
	cmds := []compCommand{{flags: compFlags(a.VisibleFlags())}}
	for _, c := range a.VisibleCommands() {
		cmds = append(cmds, compCommand{names: c.Names(), usage: c.Usage, flags: compFlags(c.VisibleFlags())})
	}
	sort.Slice(cmds, func(i, j int) bool { return strings.Join(cmds[i].names, " ") < strings.Join(cmds[j].names, " ") })
	return cmds
}

func compFlags(flags []cli.Flag) []compFlag {
	var out []compFlag
	for _, f := range flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		cf := compFlag{values: flagValues[f.Names()[0]]}
		for _, n := range f.Names() {
			if len(n) == 1 {
				cf.names = append(cf.names, "-"+n)
			} else {
				cf.names = append(cf.names, "--"+n)
			}
		}
		cf.arg, cf.usage = unquoteUsage(df.GetUsage())
		switch {
		case !df.TakesValue():
			cf.arg = ""
		case cf.arg == "":
			cf.arg = "VALUE"
		}
		if df.TakesValue() {
			cf.def = df.GetDefaultText()
			if cf.def == "" {
				cf.def = df.GetValue()
			}
			cf.def = strings.Trim(cf.def, `"`)
		}
		_, cf.repeat = f.(cli.DocGenerationSliceFlag)
		out = append(out, cf)
	}
	return out
}

// unquoteUsage splits a flag's usage into the placeholder between its
// first pair of backquotes and the usage without the backquotes, as
// urfave/cli's help does.
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}
