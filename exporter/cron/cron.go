// Package cron is one run of `vmcheck cron` (Job): check every domain,
// record the results in a History carried between runs by the state file,
// re-check those in a soft state, and write the node_exporter textfile
// (WriteTextfile) from the metrics Collector, as `vmcheck serve` serves
// it.
package cron

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/metrics"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/output"
	"github.com/vmcheck/vmcheck/settings"
)

// ErrInterrupted is what Job.Run returns when its context ends during
// the checks: the previous textfile stays, and goes stale.
var ErrInterrupted = errors.New("interrupted; textfile not updated")

// RoundEngine is what a Job needs of *checker.Checker: the domains the
// config selects, and all of them checked with bounded concurrency.
type RoundEngine interface {
	Select(ctx context.Context, src model.Source) ([]model.Domain, error)
	CheckAll(ctx context.Context, doms []model.Domain) []model.Result
}

var _ RoundEngine = (*checker.Checker)(nil)

// Job is one run of `vmcheck cron`: connect, list and check the domains,
// record them in the History (carried between runs by the state file),
// write the node_exporter textfile from the Collector, as `vmcheck serve`
// serves it, and log one line per VM.
type Job struct {
	// Open connects to the host; the connection is closed after the run.
	Open func(ctx context.Context) (schedule.Conn, error)
	// Engine selects and checks the domains.
	Engine RoundEngine
	// History receives the checks; it is loaded from StateFile first.
	History *history.History
	// TextfileDir and TextfileName name the metrics file, which must end
	// in .prom.
	TextfileDir, TextfileName string
	// StateFile keeps the History between runs; empty: every run starts
	// afresh.
	StateFile string
	// Version is vmcheck's version, for vmcheck_build_info.
	Version string
	// Log receives one line per VM (info when ok or paused, else
	// warning) and state-file problems. Nil discards.
	Log logrus.FieldLogger
	// Now returns the current time (time.Now if nil); tests fix it.
	Now func() time.Time
	// RetryInterval is the time from the start of a check that left a
	// domain in a soft state (its probes failed, fewer than DownAfter
	// times in a row) to its next check within the run (retryTime); a domain's policy retry interval overrides
	// it. Zero, for a domain without one: no retries. See retryFailing
	// for the budget.
	RetryInterval time.Duration
	// Timeout is the deadline of one domain's check (settings.DefaultTimeout
	// if zero); the retries' budget is DownAfter × Timeout.
	Timeout time.Duration
	// Sleep waits d or until ctx ends (a timer if nil); tests fake it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Prepare checks the round's files before anything is checked, so that a
// misconfigured cron job fails at once instead of after a round: the
// textfile directory exists, the name is a plain file name ending in
// .prom, and the state file's directory exists (EnsureStateDir creates it
// when missing). Its errors are *schedule.OptionError naming TextfileDir,
// TextfileName or StateFile.
func (c *Job) Prepare() error {
	if st, err := os.Stat(c.TextfileDir); err != nil || !st.IsDir() {
		return &schedule.OptionError{Option: "TextfileDir", Value: c.TextfileDir, Quote: true, Err: errors.New("not a directory")}
	}
	if filepath.Ext(c.TextfileName) != ".prom" || filepath.Base(c.TextfileName) != c.TextfileName {
		return &schedule.OptionError{Option: "TextfileName", Value: c.TextfileName, Quote: true, Err: errors.New("must be a file name ending in .prom")}
	}
	if c.StateFile != "" {
		if err := EnsureStateDir(c.StateFile); err != nil {
			return &schedule.OptionError{Option: "StateFile", Err: err}
		}
	}
	return nil
}

// Run runs one round and returns its results, sorted by name. When the
// host cannot be reached or listed it writes a textfile saying so
// (vmcheck_libvirt_up 0, no VM series) and returns the error; when ctx
// ends during the checks it writes nothing and returns ErrInterrupted. A
// state file that cannot be read or saved is logged, not returned.
func (c *Job) Run(ctx context.Context) ([]model.Result, error) {
	log := schedule.LogOrDiscard(c.Log)
	now := c.Now
	if now == nil {
		now = time.Now
	}
	if c.StateFile != "" {
		loadState(log, c.History, c.StateFile)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(c.History, c.Version))

	start := now()
	conn, err := c.Open(ctx)
	if err != nil {
		return nil, c.failed(log, reg, err)
	}
	defer conn.Close()
	doms, err := c.Engine.Select(ctx, conn)
	if err != nil {
		return nil, c.failed(log, reg, err)
	}
	c.History.SetLibvirtUp(true)
	schedule.SetMemoryTarget(len(doms))
	results := c.Engine.CheckAll(ctx, doms)
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}
	c.History.SetRound(history.Round{Start: start, Duration: now().Sub(start), Domains: len(results)})
	c.History.Retain(schedule.UUIDSet(doms))
	entries := c.record(doms, results)
	results = c.retryFailing(ctx, doms, results, entries, start)
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}
	for _, r := range results {
		logVM(log, entries[r.UUID])
	}
	if err := WriteTextfile(c.TextfileDir, c.TextfileName, reg); err != nil {
		return nil, err
	}
	if c.StateFile != "" {
		saveState(log, c.History, c.StateFile)
	}
	return results, nil
}

// record records results in the History and returns the domains'
// entries by UUID.
func (c *Job) record(doms []model.Domain, results []model.Result) map[string]history.Entry {
	byUUID := make(map[string]model.Domain, len(doms))
	for _, d := range doms {
		byUUID[d.UUID] = d
	}
	entries := make(map[string]history.Entry, len(results))
	for _, r := range results {
		_, entries[r.UUID] = c.History.Record(byUUID[r.UUID], r, nil)
	}
	return entries
}

// retryFailing re-checks the domains in a soft state, each its retry
// interval (its policy's, else RetryInterval) after the start of its last
// check (retryTime, serve's rule),
// until each has recovered or its failure is confirmed (DownAfter
// failures in a row, counting the state file's streak): at most
// DownAfter-1 re-checks each. The domains due at the same time are
// checked together. Its budget is DownAfter × Timeout from the run's
// start: a re-check starts only if it can end, after its wait and a full
// Timeout, within it. It updates entries and returns the results with
// each domain's last check.
func (c *Job) retryFailing(ctx context.Context, doms []model.Domain, results []model.Result,
	entries map[string]history.Entry, start time.Time) []model.Result {
	now, sleep := c.Now, c.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = timing.Sleep
	}
	timeout := timing.Or(c.Timeout, settings.DefaultTimeout)
	end := start.Add(time.Duration(c.History.DownAfter()) * timeout)
	last := end.Add(-timeout) // the last start of a re-check that ends within the budget
	retryAt := map[string]time.Time{}
	c.scheduleRetries(retryAt, doms, results, entries, now())
	for {
		next, ok := nextRetry(retryAt, last)
		if !ok || sleep(ctx, max(next.Sub(now()), 0)) != nil {
			return results
		}
		// Those due by now join the pass, within the budget.
		by := next
		if t := now(); t.After(by) {
			by = t
		}
		if by.After(last) {
			by = last
		}
		due := takeDue(retryAt, doms, by)
		retried := c.Engine.CheckAll(ctx, due)
		if ctx.Err() != nil {
			return results
		}
		maps.Copy(entries, c.record(due, retried))
		c.scheduleRetries(retryAt, due, retried, entries, now())
		for i, r := range results {
			if j := slices.IndexFunc(retried, func(n model.Result) bool { return n.UUID == r.UUID }); j >= 0 {
				results[i] = retried[j]
			}
		}
	}
}

// scheduleRetries sets, in retryAt, when each of doms still in a soft
// state is to be re-checked after its last check (in results): as serve
// does, its retry interval (its policy's, else RetryInterval) after that
// check started (retryTime). A domain without a positive one is not.
func (c *Job) scheduleRetries(retryAt map[string]time.Time, doms []model.Domain, results []model.Result, entries map[string]history.Entry, now time.Time) {
	byUUID := make(map[string]model.Result, len(results))
	for _, r := range results {
		byUUID[r.UUID] = r
	}
	for _, d := range doms {
		if retry := timing.Or(d.Policy.RetryInterval, c.RetryInterval); entries[d.UUID].Pending && retry > 0 {
			retryAt[d.UUID] = schedule.RetryTime(byUUID[d.UUID], retry, now)
		}
	}
}

// takeDue removes from retryAt, and returns, the domains whose re-check
// is due by.
func takeDue(retryAt map[string]time.Time, doms []model.Domain, by time.Time) []model.Domain {
	var due []model.Domain
	for _, d := range doms {
		if at, ok := retryAt[d.UUID]; ok && !at.After(by) {
			due = append(due, d)
			delete(retryAt, d.UUID)
		}
	}
	return due
}

// nextRetry returns the earliest time in retryAt that is not after last,
// and false if there is none.
func nextRetry(retryAt map[string]time.Time, last time.Time) (time.Time, bool) {
	var next time.Time
	for _, at := range retryAt {
		if !at.After(last) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// failed writes a textfile with vmcheck_libvirt_up 0 (and no VM series),
// then returns err.
func (c *Job) failed(log logrus.FieldLogger, g prometheus.Gatherer, err error) error {
	c.History.SetLibvirtUp(false)
	if werr := WriteTextfile(c.TextfileDir, c.TextfileName, g); werr != nil {
		log.WithError(werr).Error("cannot write the textfile")
	}
	return err
}

// logVM writes the one structured line per VM that cron mode promises:
// info when the VM is ok or paused, warning otherwise.
func logVM(log logrus.FieldLogger, e history.Entry) {
	f := output.LogFields(e.Result)
	f["verdict"] = f["state"]
	f["state"] = string(e.State)
	f["since"] = e.Since.UTC().Format(time.RFC3339)
	f["consecutive_failures"] = e.ConsecutiveFailures
	output.ProbeFields(f, e.Result.Probes)
	entry := log.WithFields(f)
	switch e.State {
	case model.StateOK, model.StatePaused:
		entry.Info("vm checked")
	default:
		entry.Warn("vm checked")
	}
}

// loadState loads the state file into h; a missing file is a first run,
// any other problem a warning.
func loadState(log logrus.FieldLogger, h *history.History, file string) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		log.WithError(err).Warn("cannot read the state file; starting without history")
		return
	}
	defer f.Close()
	if err := h.Load(f); err != nil {
		log.WithError(err).WithField("file", file).Warn("ignoring the state file; starting without history")
	}
}

// saveState writes h to the state file, atomically and with mode 0600; a
// failure is a warning.
func saveState(log logrus.FieldLogger, h *history.History, file string) {
	var buf bytes.Buffer
	if err := h.Save(&buf); err != nil {
		log.WithError(err).Warn("cannot save the state file")
		return
	}
	if err := WriteFileAtomic(file, buf.Bytes()); err != nil {
		log.WithError(err).Warn("cannot save the state file")
	}
}
