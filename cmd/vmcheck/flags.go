package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/osdetect"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/probe"
	"github.com/vmcheck/vmcheck/settings"
)

// commonFlags are the flags every command that talks to a host accepts,
// with the command's default log level and format. output false hides
// --output, which the long-running and cron commands do not use.
func commonFlags(logLevel, logFormat string, output bool) []cli.Flag {
	return append(backendFlagDefs(), []cli.Flag{
		&cli.StringFlag{Name: "ovsdb", Usage: "Open vSwitch database `REMOTE` (unix:PATH) read for Open vSwitch and vhost-user NICs after a failed check (default " + hostnic.DefaultOVSDB + ")"},
		&cli.StringFlag{Name: "config", Usage: "YAML config `FILE`; flags override it; without --config, " + settings.DefaultConfigFile + " when it exists (--config '' reads none)"},
		&cli.StringSliceFlag{Name: "domain", Usage: "check only this domain `NAME|UUID` (repeatable)"},
		&cli.StringSliceFlag{Name: "exclude", Usage: "skip domains whose name matches `GLOB` (repeatable)"},
		&cli.BoolFlag{Name: "opt-in", Usage: "check only domains whose own metadata says <vmcheck:check enabled=\"true\"/> (QEMU backend: a config policy with enabled: true); skip the others"},
		&cli.StringSliceFlag{Name: "external", Usage: "external `ADDR` to ping from inside each guest (repeatable; IPv4 or IPv6)"},
		&cli.GenericFlag{Name: "probe", Value: &probeList{}, Usage: "probe `METHOD[,KEY=VALUE...]` run from inside each guest instead of its policy's probes (repeatable; e.g. dns,name=www.example.com; docs/probes.md)"},
		&cli.DurationFlag{Name: "timeout", Usage: "`DURATION` allowed for checking one domain", DefaultText: "30s"},
		&cli.DurationFlag{Name: "ping-timeout", Usage: "`DURATION` the in-guest ping waits for a reply", DefaultText: "2s"},
		&cli.IntFlag{Name: "concurrency", Usage: "`N` domains checked at once (a check waiting for its guest's ping holds no libvirtd worker)", DefaultText: "128"},
		&cli.IntFlag{Name: "agent-calls", Usage: "at most `N` guest agent calls in flight over all domains, each holding a libvirtd worker thread (default: libvirtd's max_workers less a tenth, at least 2, read through its admin socket; 18 when unreadable); backs off when libvirtd slows down", DefaultText: "auto"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: outputUsage, Hidden: !output},
		&cli.StringFlag{Name: "log-level", Aliases: []string{"log.level"}, Value: logLevel, Usage: "log `LEVEL`: debug, info, warn, error"},
		&cli.StringFlag{Name: "log-format", Aliases: []string{"log.format"}, Value: logFormat, Usage: "log `FORMAT` on stderr: text (or logfmt) or json"},
	}...)
}

// backendFlagDefs are the flags of the registered backends' options
// (settings.Backend.Options), by backend name: each named after its config
// key.
func backendFlagDefs() []cli.Flag {
	var flags []cli.Flag
	for _, b := range settings.Backends() {
		for _, o := range b.Options() {
			f := &cli.StringFlag{Name: o.FlagName(), Usage: o.Usage}
			if o.Short != "" {
				f.Aliases = []string{o.Short}
			}
			flags = append(flags, f)
		}
	}
	return flags
}

// outputUsage is --output's usage: the formats package output registered.
var outputUsage = "output format: " + output.FormatNames()

// stderr receives the logs and what the commands say besides their
// output; tests replace it.
var stderr io.Writer = os.Stderr

// defaultConfigFile is read when it exists and --config is not given;
// tests point it elsewhere.
var defaultConfigFile = settings.DefaultConfigFile

// setup builds the logger and the effective config from the config file and
// flags.
func setup(c *cli.Context) (*logrus.Logger, settings.Config, error) {
	log, err := newLogger(c)
	if err != nil {
		return nil, settings.Config{}, err
	}
	if err := output.Format(c.String("output")).Valid(); err != nil {
		return nil, settings.Config{}, usageError("--output: %v", err)
	}
	if err := flagValues(c); err != nil {
		return nil, settings.Config{}, err
	}
	if c.Args().Present() {
		return nil, settings.Config{}, usageError("unexpected argument %q (flags go before nothing else; see --help)", c.Args().First())
	}
	var cfg settings.Config
	file := configFile(c)
	if file != "" {
		if cfg, err = settings.LoadConfig(file); err != nil {
			return nil, settings.Config{}, usageError("%v", err)
		}
	}
	for _, apply := range []func(*cli.Context, *settings.Config) error{backendFlags, selectionFlags, limitFlags} {
		if err := apply(c, &cfg); err != nil {
			return nil, settings.Config{}, err
		}
	}
	autoAgentCalls(c.Context, log, &cfg)
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, settings.Config{}, invalid(c, file, err)
	}
	return log, cfg, nil
}

// configFile is the config file to read: --config's, "" for none
// (--config ”), or without --config defaultConfigFile when it exists.
func configFile(c *cli.Context) string {
	if c.IsSet("config") {
		return c.String("config")
	}
	if _, err := os.Stat(defaultConfigFile); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return defaultConfigFile // read, or its error reported
}

// flagValues rejects, naming the flag, a value of a text flag that starts
// with "-" (`--domain --qemu-dir X` took "--qemu-dir" as a domain) and a
// duration that is not positive.
func flagValues(c *cli.Context) error {
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		var vals []string
		switch f.(type) {
		case *cli.StringFlag:
			vals = []string{c.String(name)}
		case *cli.StringSliceFlag:
			vals = c.StringSlice(name)
		case *cli.DurationFlag:
			if d := c.Duration(name); d <= 0 {
				return usageError("--%s %s: must be positive, use e.g. 30s", name, d)
			}
		}
		for _, v := range vals {
			if strings.HasPrefix(v, "-") {
				return usageError("--%s %q: a value cannot start with \"-\"; is the value of --%s missing?", name, v, name)
			}
		}
	}
	return nil
}

// flagOfKey names the flag that sets each top-level config key; the
// backends' options add theirs (init).
var flagOfKey = map[string]string{"timeout": "timeout", "ping_timeout": "ping-timeout", "concurrency": "concurrency", "agent_calls": "agent-calls",
	"external": "external", "exclude": "exclude", "ovsdb": "ovsdb"}

func init() {
	for _, b := range settings.Backends() {
		for _, o := range b.Options() {
			flagOfKey[o.Key] = o.FlagName()
		}
	}
}

// invalid reports an invalid value of the effective config under its
// flag when a flag set it (or the value it was judged against), else
// under its key in the config file.
func invalid(c *cli.Context, file string, err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		key, _, _ := strings.Cut(fe.Key, "[")
		if f := flagOfKey[key]; f != "" && c.IsSet(f) {
			return usageError("--%s: %v", f, fe.Err)
		}
		if f := flagOfKey[fe.Related]; f != "" && c.IsSet(f) {
			return usageError("--%s: %s %v", f, fe.Key, fe.Err)
		}
	}
	if file != "" {
		return usageError("config %s: %v", file, err)
	}
	return usageError("%v", err)
}

// logLevels are the values of --log-level.
var logLevels = map[string]logrus.Level{"debug": logrus.DebugLevel, "info": logrus.InfoLevel,
	"warn": logrus.WarnLevel, "warning": logrus.WarnLevel, "error": logrus.ErrorLevel}

// newLogger is the logger of --log-level and --log-format (or
// node_exporter's --log.level and --log.format), on stderr.
func newLogger(c *cli.Context) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetOutput(stderr)
	lvl, ok := logLevels[c.String("log-level")]
	if !ok {
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	log.SetLevel(lvl)
	switch c.String("log-format") {
	case "text", "logfmt":
		log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: false, FullTimestamp: true})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, usageError("--log-format %q: want text (or logfmt) or json", c.String("log-format"))
	}
	return log, nil
}

// backendFlags lays the backends' flags (--connect, --qemu-dir,
// --pve-config-dir) and --ovsdb over cfg: a flag that selects a backend
// picks it over the config file's; two that select different backends
// are an error.
func backendFlags(c *cli.Context, cfg *settings.Config) error {
	var picked []string // "--connect (libvirt)"
	var pick settings.Backend
	for _, b := range settings.Backends() {
		for _, o := range b.Options() {
			if o.Selects && c.IsSet(o.FlagName()) && pick != b {
				picked, pick = append(picked, "--"+o.FlagName()+" ("+b.Title()+")"), b
			}
		}
	}
	if len(picked) > 1 {
		return usageError("%s select different backends; give one", strings.Join(picked, " and "))
	}
	for _, b := range settings.Backends() {
		if pick != nil && b != pick {
			b.Deselect(cfg) // the flag picks its backend over the config file's
		}
		for _, o := range b.Options() {
			if !c.IsSet(o.FlagName()) {
				continue
			}
			if err := o.Set(cfg, c.String(o.FlagName())); err != nil {
				return usageError("--%s: %v", o.FlagName(), err)
			}
		}
	}
	if c.IsSet("ovsdb") {
		cfg.Sections = hostnic.Section.Set(cfg.Sections, hostnic.Settings{OVSDB: c.String("ovsdb")})
	}
	return nil
}

// selectionFlags lays --domain, --exclude, --opt-in, --external and
// --probe over cfg.
func selectionFlags(c *cli.Context, cfg *settings.Config) error {
	if c.IsSet("domain") {
		cfg.Domains = c.StringSlice("domain")
	}
	if c.IsSet("exclude") {
		cfg.Exclude = c.StringSlice("exclude")
	}
	if c.IsSet("opt-in") {
		cfg.OptIn = c.Bool("opt-in")
	}
	if c.IsSet("external") {
		cfg.External = nil
		for _, s := range c.StringSlice("external") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return usageError("--external %q: not an IP address", s)
			}
			if err := osdetect.ValidateOperatorTarget(a); err != nil {
				return usageError("--external %q: %v", s, err)
			}
			cfg.External = append(cfg.External, a)
		}
	}
	if c.IsSet("probe") {
		cfg.Probes = nil
		list, _ := c.Generic("probe").(*probeList)
		for _, v := range list.values() {
			s, err := probe.ParseFlag(v)
			if err != nil {
				return usageError("--probe %q: %v", v, err)
			}
			cfg.Probes = append(cfg.Probes, s)
		}
	}
	return nil
}

// limitFlags lays --timeout, --ping-timeout and --concurrency over cfg.
func limitFlags(c *cli.Context, cfg *settings.Config) error {
	for _, d := range []struct {
		flag string
		dst  *config.Duration
	}{{"timeout", &cfg.Timeout}, {"ping-timeout", &cfg.PingTimeout}} {
		if !c.IsSet(d.flag) {
			continue
		}
		*d.dst = config.Duration(c.Duration(d.flag))
	}
	if c.IsSet("concurrency") {
		if c.Int("concurrency") < 1 {
			return usageError("--concurrency: must be at least 1, got %d", c.Int("concurrency"))
		}
		cfg.Concurrency = c.Int("concurrency")
	}
	if c.IsSet("agent-calls") {
		if c.Int("agent-calls") < 1 {
			return usageError("--agent-calls: must be at least 1, got %d", c.Int("agent-calls"))
		}
		cfg.AgentCalls = c.Int("agent-calls")
	}
	return nil
}

// autoAgentCalls sets the limit on agent calls in flight when neither
// --agent-calls nor agent_calls did: as the config's backend derives it
// from its host (settings.Backend.AgentCalls: libvirt from libvirtd's
// max_workers, QEMU as many as domains checked at once).
func autoAgentCalls(ctx context.Context, log logrus.FieldLogger, cfg *settings.Config) {
	if cfg.AgentCalls != 0 {
		return
	}
	lim := cfg.Host().AgentCalls(ctx, *cfg)
	cfg.AgentCalls = lim.Calls
	if lim.Note == "" {
		return
	}
	e := log.WithFields(lim.Fields)
	if lim.Err != nil {
		e = e.WithError(lim.Err)
	}
	e.Debug(lim.Note)
}

// hostSource is a Source holding connections to close.
type hostSource = settings.Conn

// withSource is the frame of a one-round command: flags and config, a
// context cancelled by SIGINT/SIGTERM, and the host source, closed after run.
func withSource(c *cli.Context, run func(ctx context.Context, log *logrus.Logger, cfg settings.Config, src hostSource) error) error {
	log, cfg, err := setup(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := openSource(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	return run(ctx, log, cfg, src)
}

// openSource connects to the host through the config's backend (libvirt,
// or QEMU without libvirt, which connects to nothing before the first
// listing).
func openSource(ctx context.Context, cfg settings.Config) (hostSource, error) {
	src, err := cfg.Host().Open(ctx, cfg)
	if err != nil {
		return nil, cli.Exit(err.Error(), output.ExitError)
	}
	return src, nil
}

// exitError turns an error into exit code 3 unless it already carries one.
func exitError(err error) error {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	return cli.Exit(err.Error(), output.ExitError)
}

// probeList is the value of --probe: each occurrence whole, commas and
// all (a StringSliceFlag would split "icmp,count=5" in two).
type probeList struct{ specs []string }

// Set adds one occurrence.
func (p *probeList) Set(v string) error {
	p.specs = append(p.specs, v)
	return nil
}

// String lists the occurrences for --help.
func (p *probeList) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(p.specs, " ")
}

func (p *probeList) values() []string {
	if p == nil {
		return nil
	}
	return p.specs
}
