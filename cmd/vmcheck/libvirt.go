//go:build cgo

package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/exporter"
)

var _ exporter.Conn = (*checker.LibvirtSource)(nil)

// openLibvirt connects to the libvirt URI of the config.
func openLibvirt(ctx context.Context, cfg checker.Config) (hostSource, error) {
	uri := checker.ResolveURI(cfg.Connect)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	src, err := checker.NewLibvirtSource(cctx, uri, cfg.Concurrency)
	if err != nil {
		return nil, cli.Exit(err.Error(), checker.ExitError)
	}
	return src, nil
}

// startEventLoop runs libvirt's event loop for lifecycle events.
func startEventLoop() error { return checker.StartEventLoop() }
