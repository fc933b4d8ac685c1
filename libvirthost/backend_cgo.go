//go:build cgo

package libvirthost

import (
	"context"
	"time"

	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/settings"
)

var _ settings.Conn = (*Source)(nil)

// uri is the libvirt URI of cfg, resolved (ResolveURI).
func uri(cfg settings.Config) string { return ResolveURI(Section.Of(cfg.Sections).Connect) }

// workersTimeout bounds reading libvirtd's worker limits.
const workersTimeout = 2 * time.Second

// Open implements settings.Backend: it connects to the config's libvirt
// URI within its ListTimeout, so a libvirtd that accepts but never answers
// fails instead of hanging.
func (Backend) Open(ctx context.Context, cfg settings.Config) (settings.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, cfg.ListTimeout())
	defer cancel()
	src, err := New(cctx, uri(cfg), cfg.AgentCalls)
	if err != nil {
		return nil, err
	}
	src.SetOVSDB(hostnic.Section.Of(cfg.Sections).OVSDB)
	return src, nil
}

// AgentCalls implements settings.Backend: AgentCallsFor the max_workers of
// the daemon behind the libvirt URI where vmcheck can read it
// (ReadWorkers), else settings.DefaultAgentCalls.
func (Backend) AgentCalls(ctx context.Context, cfg settings.Config) settings.AgentLimit {
	ctx, cancel := context.WithTimeout(ctx, workersTimeout)
	defer cancel()
	w, err := ReadWorkers(ctx, uri(cfg))
	if err != nil {
		return unreadWorkers(err)
	}
	n := AgentCallsFor(w.MaxWorkers)
	return settings.AgentLimit{Calls: n, Note: "limit on agent calls in flight from libvirtd's max_workers",
		Fields: map[string]any{"server": w.Server, "max_workers": w.MaxWorkers, "agent_calls": n}}
}

// StartEvents implements settings.EventLoop: libvirt's event loop
// (StartEventLoop).
func (Backend) StartEvents() error { return StartEventLoop() }
