//go:build cgo

package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/libvirthost"
	"github.com/vmcheck/vmcheck/output"
)

var _ schedule.Conn = (*libvirthost.Source)(nil)

// openLibvirt connects to the libvirt URI of the config, within the
// config's ListTimeout: a libvirtd that accepts but never answers fails the
// command (exit 3) instead of hanging it.
func openLibvirt(ctx context.Context, cfg checker.Config) (hostSource, error) {
	uri := libvirthost.ResolveURI(cfg.Connect)
	cctx, cancel := context.WithTimeout(ctx, cfg.ListTimeout())
	defer cancel()
	src, err := libvirthost.New(cctx, uri, cfg.AgentCalls)
	if err != nil {
		return nil, cli.Exit(err.Error(), output.ExitError)
	}
	src.SetOVSDB(cfg.OVSDB)
	return src, nil
}

// libvirtWorkers reads the max_workers of the daemon behind the config's
// libvirt URI.
func libvirtWorkers(ctx context.Context, uri string) (server string, maxWorkers int, err error) {
	w, err := libvirthost.ReadWorkers(ctx, libvirthost.ResolveURI(uri))
	return w.Server, w.MaxWorkers, err
}

// startEventLoop runs libvirt's event loop for lifecycle events.
func startEventLoop() error { return libvirthost.StartEventLoop() }
