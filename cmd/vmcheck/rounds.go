package main

import (
	"errors"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/settings"
)

// roundFlags are the flags serve and cron share: how often a VM in a soft
// state is checked again, and after how many failed rounds it counts as
// degraded or down. unit is what the command calls a round ("rounds" for
// serve, "runs" for cron).
func roundFlags(unit string) []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "retry-interval", Value: schedule.DefaultRetryInterval, Usage: "time between the checks of a VM whose probes failed fewer than --down-after times in a row (a VM's policy retry_interval overrides it)"},
		&cli.IntFlag{Name: "down-after", Value: history.DefaultDownAfter, Usage: "consecutive failed " + unit + " before a VM is reported degraded or down (`N`)"},
	}
}

// roundTiming checks serve's --interval (interval; 0 for cron),
// --down-after and --retry-interval (the config file's retry_interval
// when the flag is not set) and returns the retry interval. Its errors
// name the flag.
func roundTiming(c *cli.Context, interval time.Duration, cfg settings.Config) (time.Duration, error) {
	var retry *time.Duration
	if c.IsSet("retry-interval") {
		d := c.Duration("retry-interval")
		retry = &d
	}
	d, err := schedule.CheckTiming(interval, c.Int("down-after"), retry, cfg)
	if err != nil {
		return 0, optionError(err)
	}
	return d, nil
}

// optionFlags names the flag that sets each option of the exporter's
// packages (schedule.OptionError's Option).
var optionFlags = map[string]string{
	"Interval": "--interval", "DownAfter": "--down-after", "RetryInterval": "--retry-interval",
	"TextfileDir": "--textfile-dir", "TextfileName": "--textfile-name", "StateFile": "--state-file",
}

// optionError is err as a usage error (exit 3) in which an option of the
// exporter's packages is called by its flag.
func optionError(err error) error {
	var oe *schedule.OptionError
	if errors.As(err, &oe) && optionFlags[oe.Option] != "" {
		return usageError("%s", oe.Named(optionFlags[oe.Option]))
	}
	return usageError("%v", err)
}
