//go:build !cgo

package main

import (
	"context"
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/output"
)

// errNoLibvirt is what a vmcheck built without cgo says when asked for
// libvirt: such a build is for hosts without libvirt (Proxmox VE, plain QEMU).
var errNoLibvirt = errors.New("this vmcheck was built without libvirt (CGO_ENABLED=0); use --qemu-dir or qemu_vms for hosts without libvirt, or a build with cgo")

func openLibvirt(context.Context, checker.Config) (hostSource, error) {
	return nil, cli.Exit(errNoLibvirt.Error(), output.ExitError)
}

func startEventLoop() error { return errNoLibvirt }

func libvirtWorkers(context.Context, string) (string, int, error) { return "", 0, errNoLibvirt }
