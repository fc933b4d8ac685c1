package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmcheck/vmcheck/model"
)

// Run lists the domains of src, keeps the ones the config selects, and checks
// them with at most settings.Config.Concurrency at a time, each under its own
// settings.Config.Timeout, and at most settings.Config.AgentCalls agent calls in flight over
// all of them. A domain whose agent hangs costs its own worker and one
// agent call slot, nothing else. Results are sorted by name. Run fails only when src cannot
// list domains, which it must do within settings.Config.ListTimeout.
func (c *Checker) Run(ctx context.Context, src model.Source) ([]model.Result, error) {
	doms, err := c.Select(ctx, src)
	if err != nil {
		return nil, err
	}
	return c.CheckAll(ctx, doms), nil
}

// Select lists the domains of src that the config selects and their policy
// enables, with that policy in model.Domain.Policy. See SelectWithSkipped.
func (c *Checker) Select(ctx context.Context, src model.Source) ([]model.Domain, error) {
	doms, _, err := c.SelectWithSkipped(ctx, src)
	return doms, err
}

// SelectWithSkipped is Select that also returns the domains opt-in mode
// (settings.Config.OptIn) left out because they have not consented (settings.Config.Consents).
// Domains the operator deselected (settings.Config.Domains, settings.Config.Exclude, a policy
// with enabled false) are in neither list. Listing runs under
// settings.Config.ListTimeout, so a hung libvirtd or QMP socket fails it instead of
// blocking for ever.
func (c *Checker) SelectWithSkipped(ctx context.Context, src model.Source) (selected, skipped []model.Domain, err error) {
	all, err := c.list(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	selected, skipped = c.filter(all)
	return selected, skipped, nil
}

// SelectNamed is SelectWithSkipped that fails with a *NotFoundError when
// an entry of settings.Config.Domains names none of the running or paused domains
// src lists: a check of a VM that is not there must not pass as ok.
func (c *Checker) SelectNamed(ctx context.Context, src model.Source) (selected, skipped []model.Domain, err error) {
	all, err := c.list(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, n := range c.cfg.Domains {
		if !slices.ContainsFunc(all, func(d model.Domain) bool { return d.Name == n || d.UUID == n }) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, nil, &NotFoundError{Names: missing}
	}
	selected, skipped = c.filter(all)
	return selected, skipped, nil
}

// NotFoundError names the entries of settings.Config.Domains that match no running
// or paused domain, by name or UUID.
type NotFoundError struct {
	// Names are the entries of settings.Config.Domains that matched no domain.
	Names []string
}

// Error implements error.
func (e *NotFoundError) Error() string {
	q := make([]string, len(e.Names))
	for i, n := range e.Names {
		q[i] = strconv.Quote(n)
	}
	return fmt.Sprintf("no running or paused domain has the name or UUID %s (a shut-off domain is not checked)", strings.Join(q, ", "))
}

// list lists the domains of src under settings.Config.ListTimeout.
func (c *Checker) list(ctx context.Context, src model.Source) ([]model.Domain, error) {
	lctx, cancel := context.WithTimeout(ctx, c.cfg.ListTimeout())
	defer cancel()
	all, err := src.Domains(lctx)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	return all, nil
}

// filter splits the listed domains into those the config selects and
// their policy enables, with that policy in model.Domain.Policy, and those
// opt-in mode skips.
func (c *Checker) filter(all []model.Domain) (selected, skipped []model.Domain) {
	for _, d := range all {
		if !c.cfg.Selected(d.Name, d.UUID) {
			continue
		}
		meta := d.Policy
		d.Policy = c.cfg.PolicyFor(d.Name, d.UUID, meta)
		switch {
		case d.Policy.Disabled():
		case c.cfg.OptIn && !c.cfg.Consents(d.Name, d.UUID, meta):
			skipped = append(skipped, d)
		default:
			selected = append(selected, d)
		}
	}
	return selected, skipped
}

// CheckAll checks doms with bounded concurrency and returns their results
// sorted by name.
func (c *Checker) CheckAll(ctx context.Context, doms []model.Domain) []model.Result {
	return c.each(ctx, doms, c.Check)
}

// DiscoverAll runs Discover on doms with bounded concurrency.
func (c *Checker) DiscoverAll(ctx context.Context, doms []model.Domain) []model.Result {
	return c.each(ctx, doms, c.Discover)
}

// each runs f on doms, at most Concurrency at a time and each under
// CheckContext, and returns the results sorted by name, then UUID.
func (c *Checker) each(ctx context.Context, doms []model.Domain, f func(context.Context, model.Domain) model.Result) []model.Result {
	results := make([]model.Result, len(doms))
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(c.cfg.Concurrency, len(doms))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				dctx, cancel := c.cfg.CheckContext(ctx)
				results[i] = f(dctx, doms[i])
				cancel()
			}
		}()
	}
	for i := range doms {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sort.Slice(results, func(a, b int) bool {
		if results[a].Name != results[b].Name {
			return results[a].Name < results[b].Name
		}
		return results[a].UUID < results[b].UUID
	})
	return results
}
