package checker

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Run lists the domains of src, keeps the ones the config selects, and checks
// them with at most Config.Concurrency at a time, each under its own
// Config.Timeout. A domain whose agent hangs costs its own worker and
// nothing else. Results are sorted by name. Run fails only when src cannot
// list domains.
func (c *Checker) Run(ctx context.Context, src Source) ([]Result, error) {
	doms, err := c.Select(ctx, src)
	if err != nil {
		return nil, err
	}
	return c.CheckAll(ctx, doms), nil
}

// Select lists the domains of src that the config selects.
func (c *Checker) Select(ctx context.Context, src Source) ([]Domain, error) {
	all, err := src.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	var doms []Domain
	for _, d := range all {
		if !c.cfg.Selected(d.Name, d.UUID) {
			continue
		}
		d.Policy = c.cfg.PolicyFor(d.Name, d.UUID, d.Policy)
		if d.Policy.Disabled() {
			continue
		}
		doms = append(doms, d)
	}
	return doms, nil
}

// CheckAll checks doms with bounded concurrency and returns their results
// sorted by name.
func (c *Checker) CheckAll(ctx context.Context, doms []Domain) []Result {
	return c.each(ctx, doms, c.Check)
}

// DiscoverAll runs Discover on doms with bounded concurrency.
func (c *Checker) DiscoverAll(ctx context.Context, doms []Domain) []Result {
	return c.each(ctx, doms, c.Discover)
}

func (c *Checker) each(ctx context.Context, doms []Domain, f func(context.Context, Domain) Result) []Result {
	results := make([]Result, len(doms))
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(c.cfg.Concurrency, len(doms))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				dctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
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
