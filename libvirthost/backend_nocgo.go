//go:build !cgo

package libvirthost

import (
	"context"
	"errors"

	"github.com/vmcheck/vmcheck/settings"
)

// errNoLibvirt is what a vmcheck built without cgo says when asked for
// libvirt: such a build is for hosts without libvirt (Proxmox VE, plain QEMU).
var errNoLibvirt = errors.New("this vmcheck was built without libvirt (CGO_ENABLED=0); use --qemu-dir or qemu_vms for hosts without libvirt, or a build with cgo")

// Open implements settings.Backend: without cgo there is no libvirt.
func (Backend) Open(context.Context, settings.Config) (settings.Conn, error) {
	return nil, errNoLibvirt
}

// AgentCalls implements settings.Backend: settings.DefaultAgentCalls, as
// for a libvirtd whose max_workers cannot be read.
func (Backend) AgentCalls(context.Context, settings.Config) settings.AgentLimit {
	return unreadWorkers(errNoLibvirt)
}

// StartEvents implements settings.EventLoop: without cgo there is no
// libvirt event loop.
func (Backend) StartEvents() error { return errNoLibvirt }
