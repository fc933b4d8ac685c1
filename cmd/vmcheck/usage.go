package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/output"
)

// usageError is a bad flag or config value: exit 3 with one line.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), output.ExitError)
}

// unknownCommand is the app's action: help without arguments, else one
// line naming the unknown command and the one it is nearest to, instead
// of urfave/cli's "No help topic for 'chek'".
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowAppHelp(c)
	}
	var names []string
	for _, cmd := range c.App.VisibleCommands() {
		if cmd.Name != "help" {
			names = append(names, cmd.Name)
		}
	}
	arg := c.Args().First()
	msg := fmt.Sprintf("unknown command %q", arg)
	if strings.HasPrefix(arg, "-") {
		msg = fmt.Sprintf("unknown flag %q", arg)
	}
	if s := config.Nearest(arg, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usageError("%s; the commands are %s (see vmcheck --help)", msg, strings.Join(names, ", "))
}

// The errors of Go's flag package, which urfave/cli passes on.
var (
	undefinedFlagErr = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)
	invalidValueErr  = regexp.MustCompile(`^invalid value "(.*)" for flag -+([^:]+): .*$`)
	needsValueErr    = regexp.MustCompile(`^flag needs an argument: -+(.+)$`)
)

// onUsageError returns the handler of a flag parsing error of the command
// named cmd (its flags from flags): one line naming the flag the way the
// operator writes it, what is wrong and the nearest flag, and exit code 3,
// instead of urfave/cli's help screen.
func onUsageError(cmd string, flags func() []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if m := undefinedFlagErr.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("unknown flag %s", dashed(m[1]))
			var names []string
			for _, f := range flags() {
				names = append(names, f.Names()...)
			}
			if s := config.Nearest(m[1], names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", dashed(s))
			}
		} else if m := invalidValueErr.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("%s %q: %s", dashed(m[2]), m[1], notA(flagNamed(flags(), m[2])))
		} else if m := needsValueErr.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("%s needs a value", dashed(m[1]))
		}
		return usageError("%s; see %s --help", msg, cmd)
	}
}

// dashed writes a flag name as on the command line: -c, --timeout.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagNamed returns the flag of flags with the name or alias name, or nil.
func flagNamed(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// notA says what a value of the flag f must be.
func notA(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag:
		return "not a duration, use e.g. 30s"
	case *cli.IntFlag:
		return "not a whole number"
	case *cli.BoolFlag:
		return "not true or false"
	}
	return "not a valid value"
}
