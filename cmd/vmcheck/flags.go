package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/probe"
	"github.com/vmcheck/vmcheck/qemuhost"
)

// commonFlags are the flags every command that talks to a host accepts,
// with the command's default log level and format. output false hides
// --output, which the long-running and cron commands do not use.
func commonFlags(logLevel, logFormat string, output bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "connect", Aliases: []string{"c"}, Usage: "libvirt `URI` (default: $LIBVIRT_DEFAULT_URI, else qemu:///system)"},
		&cli.StringFlag{Name: "qemu-dir", Usage: "no libvirt: check the QEMU VMs whose <id>.qmp and <id>.qga sockets are in `DIR` (Proxmox VE: " + qemuhost.DefaultDir + ")"},
		&cli.StringFlag{Name: "pve-config-dir", Usage: "with --qemu-dir: Proxmox VE VM configs <id>.conf in `DIR` (default " + qemuhost.DefaultPVEConfigDir + ")"},
		&cli.StringFlag{Name: "config", Usage: "YAML config `FILE`; flags override it"},
		&cli.StringSliceFlag{Name: "domain", Usage: "check only this domain `NAME|UUID` (repeatable)"},
		&cli.StringSliceFlag{Name: "exclude", Usage: "skip domains whose name matches `GLOB` (repeatable)"},
		&cli.BoolFlag{Name: "opt-in", Usage: "check only domains whose own metadata says <vmcheck:check enabled=\"true\"/> (QEMU backend: a config policy with enabled: true); skip the others"},
		&cli.StringSliceFlag{Name: "external", Usage: "external `ADDR` to ping from inside each guest (repeatable; IPv4 or IPv6)"},
		&cli.StringSliceFlag{Name: "probe", Usage: "probe `METHOD[,KEY=VALUE...]` run from inside each guest instead of its policy's probes (repeatable; e.g. dns,name=www.example.com; docs/probes.md)"},
		&cli.DurationFlag{Name: "timeout", Usage: "`DURATION` allowed for checking one domain", DefaultText: "30s"},
		&cli.DurationFlag{Name: "ping-timeout", Usage: "`DURATION` the in-guest ping waits for a reply", DefaultText: "2s"},
		&cli.IntFlag{Name: "concurrency", Usage: "`N` domains checked at once", DefaultText: "8"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table or json", Hidden: !output},
		&cli.StringFlag{Name: "log-level", Value: logLevel, Usage: "log level: debug, info, warn, error"},
		&cli.StringFlag{Name: "log-format", Value: logFormat, Usage: "log format on stderr: text or json"},
	}
}

// usageError is a bad flag or config value: exit 3 with one line.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), output.ExitError)
}

// setup builds the logger and the effective config from the config file and
// flags.
func setup(c *cli.Context) (*logrus.Logger, checker.Config, error) {
	log, err := newLogger(c)
	if err != nil {
		return nil, checker.Config{}, err
	}
	if err := output.Format(c.String("output")).Valid(); err != nil {
		return nil, checker.Config{}, usageError("--output: %v", err)
	}
	if c.Args().Present() {
		return nil, checker.Config{}, usageError("unexpected argument %q (flags go before nothing else; see --help)", c.Args().First())
	}
	var cfg checker.Config
	if f := c.String("config"); f != "" {
		if cfg, err = checker.LoadConfig(f); err != nil {
			return nil, checker.Config{}, usageError("%v", err)
		}
	}
	for _, apply := range []func(*cli.Context, *checker.Config) error{backendFlags, selectionFlags, limitFlags} {
		if err := apply(c, &cfg); err != nil {
			return nil, checker.Config{}, err
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, checker.Config{}, usageError("%v", err)
	}
	return log, cfg, nil
}

// newLogger is the logger of --log-level and --log-format, on stderr.
func newLogger(c *cli.Context) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	lvl, err := logrus.ParseLevel(c.String("log-level"))
	if err != nil {
		return nil, usageError("--log-level: %v", err)
	}
	log.SetLevel(lvl)
	switch c.String("log-format") {
	case "text":
		log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: false, FullTimestamp: true})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, usageError("--log-format: %q is not text or json", c.String("log-format"))
	}
	return log, nil
}

// backendFlags lays --connect, --qemu-dir and --pve-config-dir over cfg:
// a flag picks its backend over the config file's.
func backendFlags(c *cli.Context, cfg *checker.Config) error {
	if c.IsSet("connect") && c.IsSet("qemu-dir") {
		return usageError("--connect (libvirt) and --qemu-dir (QEMU without libvirt) select different backends; give one")
	}
	if c.IsSet("connect") {
		cfg.Connect = c.String("connect")
		cfg.QEMUDir, cfg.QEMUVMs = "", nil // the flag picks libvirt over the config file's QEMU backend
	}
	if c.IsSet("qemu-dir") {
		if c.String("qemu-dir") == "" {
			return usageError("--qemu-dir: empty directory")
		}
		cfg.QEMUDir, cfg.Connect = c.String("qemu-dir"), ""
	}
	if c.IsSet("pve-config-dir") {
		cfg.PVEConfigDir = c.String("pve-config-dir")
	}
	return nil
}

// selectionFlags lays --domain, --exclude, --opt-in, --external and
// --probe over cfg.
func selectionFlags(c *cli.Context, cfg *checker.Config) error {
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
			cfg.External = append(cfg.External, a)
		}
	}
	if c.IsSet("probe") {
		cfg.Probes = nil
		for _, v := range c.StringSlice("probe") {
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
func limitFlags(c *cli.Context, cfg *checker.Config) error {
	for _, d := range []struct {
		flag string
		dst  *checker.Duration
	}{{"timeout", &cfg.Timeout}, {"ping-timeout", &cfg.PingTimeout}} {
		if !c.IsSet(d.flag) {
			continue
		}
		if c.Duration(d.flag) <= 0 {
			return usageError("--%s: must be positive, got %s", d.flag, c.Duration(d.flag))
		}
		*d.dst = checker.Duration(c.Duration(d.flag))
	}
	if c.IsSet("concurrency") {
		if c.Int("concurrency") < 1 {
			return usageError("--concurrency: must be at least 1, got %d", c.Int("concurrency"))
		}
		cfg.Concurrency = c.Int("concurrency")
	}
	return nil
}

// hostSource is a Source holding connections to close.
type hostSource = exporter.Conn

// withSource is the frame of a one-round command: flags and config, a
// context cancelled by SIGINT/SIGTERM, and the host source, closed after run.
func withSource(c *cli.Context, run func(ctx context.Context, log *logrus.Logger, cfg checker.Config, src hostSource) error) error {
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

// openSource connects to the host named by the config: libvirt, or QEMU
// without libvirt (qemu_dir, qemu_vms, --qemu-dir), which connects to
// nothing before the first listing.
func openSource(ctx context.Context, cfg checker.Config) (hostSource, error) {
	if !cfg.QEMU() {
		return openLibvirt(ctx, cfg)
	}
	src, err := qemuhost.New(qemuhost.Options{Dir: cfg.QEMUDir, VMs: cfg.QEMUVMs, PVEConfigDir: cfg.PVEConfigDir, Concurrency: cfg.Concurrency})
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
