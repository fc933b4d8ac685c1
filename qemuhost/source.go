// Package qemuhost is vmcheck's Source for KVM hosts without libvirt, where
// QEMU is started by something else (Proxmox VE, scripts, other
// management) and serves, per VM, a QMP socket and a guest agent socket.
//
// VMs are found as <id>.qmp sockets in a directory (Proxmox VE:
// /var/run/qemu-server/<vmid>.qmp, with the agent at <vmid>.qga) or given
// explicitly as socket pairs. For each, a short QMP session (through
// github.com/digitalocean/go-qemu: hypervisor, qemu.Domain, qmp) reads the
// name, UUID, run status, the agent chardev's state and the NICs' MACs
// (query-rx-filter); where a Proxmox VE config <id>.conf exists, NIC model,
// MAC and bridge come from it. The guest agent is reached directly on its
// socket with agentsocket.Socket; everything above the seam is unchanged.
//
// The agent socket admits one client at a time, and Proxmox VE uses it
// too: before connecting, the Source asks QMP whether another client holds
// it, and if one does, backs off and reports the agent unresponsive with
// that reason instead of queueing behind it.
//
// The package is pure Go (no cgo, no libvirt).
package qemuhost

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/hypervisor"
	"github.com/digitalocean/go-qemu/qemu"
	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/guestagent/agentsocket"
	"github.com/vmcheck/vmcheck/internal/timing"
	"github.com/vmcheck/vmcheck/model"
)

// Defaults of Options.
const (
	// DefaultDir is where Proxmox VE keeps each running VM's sockets.
	DefaultDir = "/var/run/qemu-server"
	// DefaultPVEConfigDir is where Proxmox VE keeps each VM's config.
	DefaultPVEConfigDir = "/etc/pve/qemu-server"
	// DefaultQMPTimeout bounds one VM's QMP session.
	DefaultQMPTimeout = 5 * time.Second
	// DefaultConcurrency is how many QMP sessions run at once.
	DefaultConcurrency = 8
)

// agentBusyWait is how long the Source waits for another client to let go
// of an agent socket before it gives up on the agent for this check.
const (
	agentBusyWait = time.Second
	agentBusyPoll = 250 * time.Millisecond
)

// agentChardevLabel is the chardev id Proxmox VE gives the agent socket.
const agentChardevLabel = "qga0"

// validID is what a VM id (a socket's file name without .qmp) may hold.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// VM names the sockets of one VM run by QEMU without libvirt: an entry of
// the config file's qemu_vms (Settings.VMs).
type VM struct {
	// ID identifies the VM on the host: the file name of its sockets and of
	// its Proxmox VE config (<ID>.conf), e.g. the vmid "101". It is the
	// VM's name when neither QEMU nor the config gives one.
	ID string `yaml:"id"`
	// QMP is the path of the VM's QMP socket.
	QMP string `yaml:"qmp"`
	// Agent is the path of the VM's guest agent socket; "" if it has none.
	Agent string `yaml:"agent"`
}

// Options configure a Source.
type Options struct {
	// Dir holds <id>.qmp and <id>.qga sockets; "" means no directory scan.
	Dir string
	// VMs are listed in addition to those found in Dir.
	VMs []VM
	// PVEConfigDir holds Proxmox VE configs <id>.conf; "" means
	// DefaultPVEConfigDir. A VM without one is described from QMP alone.
	PVEConfigDir string
	// QMPTimeout bounds each VM's QMP session; 0 means DefaultQMPTimeout.
	QMPTimeout time.Duration
	// Concurrency bounds the QMP sessions run at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Agent tunes the guest agent sockets; BeforeDial is the Source's own.
	Agent agentsocket.Options
}

// Source lists the VMs of a host that runs QEMU without libvirt. It is safe
// for concurrent use.
type Source struct {
	opts Options

	mu     sync.Mutex
	agents map[string]*agentsocket.Socket // by agent socket path
	// owners are the VMs (by id) that held their UUID alone in the last
	// listing: one keeps it when another starts claiming it too.
	owners map[string]string
}

var _ model.Source = (*Source)(nil)

// New returns a Source. Nothing is opened until Domains.
func New(opts Options) (*Source, error) {
	if opts.Dir == "" && len(opts.VMs) == 0 {
		return nil, errors.New("qemu host: neither a socket directory nor VMs given")
	}
	if opts.PVEConfigDir == "" {
		opts.PVEConfigDir = DefaultPVEConfigDir
	}
	if opts.QMPTimeout <= 0 {
		opts.QMPTimeout = DefaultQMPTimeout
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	seen := map[string]bool{}
	for i, vm := range opts.VMs {
		switch {
		case !validID.MatchString(vm.ID):
			return nil, fmt.Errorf("qemu host: vm %d: id %q must be 1-128 of [A-Za-z0-9._-], starting with a letter or digit", i, vm.ID)
		case vm.QMP == "":
			return nil, fmt.Errorf("qemu host: vm %q: no QMP socket", vm.ID)
		case seen[vm.ID]:
			return nil, fmt.Errorf("qemu host: vm %q listed twice", vm.ID)
		}
		seen[vm.ID] = true
	}
	return &Source{opts: opts, agents: map[string]*agentsocket.Socket{}}, nil
}

// Close closes the agent connections.
func (s *Source) Close() error {
	s.mu.Lock()
	agents := s.agents
	s.agents = map[string]*agentsocket.Socket{}
	s.mu.Unlock()
	var errs []error
	for _, a := range agents {
		errs = append(errs, a.Close())
	}
	return errors.Join(errs...)
}

// Watch reports no events: QEMU hosts tell vmcheck nothing about VMs that
// start or stop, which the next round notices. It returns nil when ctx
// ends.
func (s *Source) Watch(ctx context.Context, _ func(model.Event)) error {
	<-ctx.Done()
	return nil
}

// Domains lists the running and paused VMs: one QMP session each, up to
// Options.Concurrency at a time. A VM whose QMP socket refuses connections
// (QEMU has exited) is left out; one whose QMP does not answer in time is
// listed as running, from its Proxmox VE config, with its agent channel
// state unknown. Domains fails only when the socket directory or a config
// cannot be read.
func (s *Source) Domains(ctx context.Context) ([]model.Domain, error) {
	vms, err := s.vms()
	if err != nil {
		return nil, err
	}
	type result struct {
		d   model.Domain
		ok  bool
		err error
	}
	results := make([]result, len(vms))
	drv := newDriver(ctx, s.opts.QMPTimeout, vms)
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, ok, err := s.domain(drv, vm)
			results[i] = result{d, ok, err}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing QEMU VMs: %w", err)
	}
	var out []model.Domain
	var outVMs []VM
	var errs []error
	live := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		if r.ok {
			out, outVMs = append(out, r.d), append(outVMs, vms[i])
		}
	}
	s.mu.Lock()
	s.owners = distinctUUIDs(out, outVMs, s.owners)
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, vm := range vms {
		live[vm.Agent] = true
	}
	s.forgetAgents(live)
	return out, nil
}

// vms returns the explicit VMs and those found in Dir, by id.
func (s *Source) vms() ([]VM, error) {
	vms := append([]VM(nil), s.opts.VMs...)
	if s.opts.Dir != "" {
		known := map[string]bool{}
		for _, vm := range vms {
			known[vm.ID] = true
		}
		entries, err := os.ReadDir(s.opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("listing QMP sockets: %w", err)
		}
		for _, e := range entries {
			id, ok := strings.CutSuffix(e.Name(), ".qmp")
			if !ok || e.Type()&fs.ModeSocket == 0 || !validID.MatchString(id) || known[id] {
				continue
			}
			vms = append(vms, VM{ID: id, QMP: filepath.Join(s.opts.Dir, e.Name()), Agent: filepath.Join(s.opts.Dir, id+".qga")})
		}
	}
	sort.Slice(vms, func(i, j int) bool { return lessID(vms[i].ID, vms[j].ID) })
	return vms, nil
}

// lessID orders numeric ids (Proxmox vmids) by value, then the others.
func lessID(a, b string) bool {
	na, ea := strconv.ParseUint(a, 10, 64)
	nb, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return na < nb
	case ea == nil:
		return true
	case eb == nil:
		return false
	}
	return a < b
}

// qmpFacts is what one QMP session learns about a VM.
type qmpFacts struct {
	name     string
	uuid     string
	state    model.RunState
	chardevs []raw.ChardevInfo
	nics     []raw.RxFilterInfo
}

// domain describes one VM; ok is false when it is not running.
func (s *Source) domain(drv *driver, vm VM) (model.Domain, bool, error) {
	conf, hasConf, err := ReadPVEConfig(s.opts.PVEConfigDir, vm.ID)
	if err != nil {
		return model.Domain{}, false, err
	}
	facts, qerr := queryVM(drv, vm.ID)
	if errors.Is(qerr, errNotRunning) {
		return model.Domain{}, false, nil
	}
	d := model.Domain{Name: vm.ID, State: model.Running, Channel: model.ChannelUnknown}
	if hasConf && conf.Name != "" {
		d.Name = conf.Name
	}
	if qerr == nil {
		if facts.name != "" {
			d.Name = facts.name
		}
		d.State = facts.state
		d.UUID = facts.uuid
	}
	if d.UUID == "" {
		d.UUID = conf.UUID
	}
	if d.UUID == "" {
		d.UUID = derivedUUID(vm.QMP)
	}
	d.BootID = bootID(d.UUID, vm.QMP)
	d.NICs = nics(vm, conf, hasConf, facts.nics)
	d.Channel = channel(vm, conf, facts.chardevs, qerr == nil)
	if vm.Agent == "" {
		d.Agent = guestagent.TransportFunc(func(context.Context, []byte) ([]byte, error) {
			return nil, fmt.Errorf("%w: VM %s has no agent socket", guestagent.ErrNoChannel, vm.ID)
		})
	} else {
		d.Agent = s.agent(vm)
	}
	return d, true, nil
}

// queryVM runs one QMP session through go-qemu.
func queryVM(drv *driver, id string) (qmpFacts, error) {
	dom, err := hypervisor.New(drv).Domain(id)
	if err != nil {
		return qmpFacts{}, err
	}
	defer dom.Close()
	var f qmpFacts
	if st, err := dom.Status(); err == nil {
		f.state = runState(st)
	} else {
		// A status newer than go-qemu's schema fails to decode: read it
		// as a string.
		var st struct {
			Running bool   `json:"running"`
			Status  string `json:"status"`
		}
		if rerr := run(dom, "query-status", &st); rerr != nil {
			return qmpFacts{}, fmt.Errorf("QMP query-status of %s: %w", id, errors.Join(err, rerr))
		}
		switch {
		case st.Running:
			f.state = model.Running
		case st.Status == "shutdown" || st.Status == "guest-panicked":
			f.state = model.Other
		default:
			f.state = model.Paused
		}
	}
	var name raw.NameInfo
	if err := run(dom, "query-name", &name); err != nil {
		return qmpFacts{}, err
	}
	if name.Name != nil {
		f.name = guestagent.Sanitize(*name.Name, 256)
	}
	var uuid raw.UUIDInfo
	if err := run(dom, "query-uuid", &uuid); err != nil {
		return qmpFacts{}, err
	}
	if u := strings.ToLower(uuid.UUID); u != "" && u != "00000000-0000-0000-0000-000000000000" {
		f.uuid = u
	}
	if err := run(dom, "query-chardev", &f.chardevs); err != nil {
		return qmpFacts{}, err
	}
	// query-rx-filter lists the NICs that support it (virtio-net); QEMU
	// without it, or without such NICs, leaves the list to the config.
	if err := run(dom, "query-rx-filter", &f.nics); err != nil {
		var qerr *QMPError
		if !errors.As(err, &qerr) {
			return qmpFacts{}, err
		}
		f.nics = nil
	}
	return f, nil
}

// run executes one QMP command and decodes its return value into v.
func run(dom *qemu.Domain, command string, v any) error {
	out, err := dom.Run(qmp.Command{Execute: command})
	if err != nil {
		return fmt.Errorf("QMP %s of %s: %w", command, dom.Name, err)
	}
	var r struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("QMP %s of %s: %w", command, dom.Name, err)
	}
	if err := json.Unmarshal(r.Return, v); err != nil {
		return fmt.Errorf("QMP %s of %s: unexpected reply: %w", command, dom.Name, err)
	}
	return nil
}

// runState maps QEMU's run status as libvirt does: a QEMU that is not
// running is paused (by a user, an I/O error, a watchdog, a migration, a
// save or restore, the debugger, or at start-up), except one that has
// shut down or whose guest panicked.
func runState(st qemu.Status) model.RunState {
	switch st {
	case qemu.StatusRunning:
		return model.Running
	case qemu.StatusPaused, qemu.StatusSuspended, qemu.StatusIOError, qemu.StatusWatchdog, qemu.StatusDebug,
		qemu.StatusInMigrate, qemu.StatusPostMigrate, qemu.StatusFinishMigrate, qemu.StatusPreLaunch,
		qemu.StatusSaveVM, qemu.StatusRestoreVM, qemu.StatusInternalError:
		return model.Paused
	}
	return model.Other
}

// nics lists the VM's NICs: those of its Proxmox VE config (model, MAC,
// bridge, link_down; the tap device is tap<vmid>i<N>; with a cloud-init
// drive, the static addresses and gateways of ipconfigN as expected ones,
// source "proxmox"), then any further NIC QMP reports (query-rx-filter:
// MAC only).
func nics(vm VM, conf PVEConfig, hasConf bool, rx []raw.RxFilterInfo) []model.NIC {
	out := []model.NIC{}
	have := map[string]bool{}
	rxMAC := make(map[string]string, len(rx)) // QEMU's MAC by NIC name; the last entry wins
	for _, r := range rx {
		rxMAC[r.Name] = r.MainMac
	}
	if hasConf {
		for _, n := range conf.NICs {
			nic := model.NIC{MAC: n.MAC, Model: n.Model, Device: fmt.Sprintf("tap%si%d", vm.ID, n.Index), LinkDown: n.LinkDown}
			if ic, ok := conf.IPConfigs[n.Index]; ok && conf.CloudInit {
				for _, a := range ic.Addrs {
					nic.Expected = model.AppendExpected(nic.Expected, a, "proxmox")
				}
				for _, a := range ic.Gateways {
					nic.Gateways = model.AppendExpected(nic.Gateways, a, "proxmox")
				}
			}
			if n.Bridge != "" {
				nic.SourceType, nic.Source, nic.Bridge = "bridge", n.Bridge, n.Bridge
			}
			nic.HostKind, nic.Host = pveHostSide(vm, n, nic)
			name := "net" + strconv.Itoa(n.Index)
			if nic.MAC == "" {
				// A config without the MAC: take QEMU's for that NIC.
				nic.MAC = normalMAC(rxMAC[name])
			}
			if nic.MAC == "" {
				continue
			}
			have[nic.MAC.String()] = true
			have[name] = true
			out = append(out, nic)
		}
	}
	extra := append([]raw.RxFilterInfo(nil), rx...)
	sort.Slice(extra, func(i, j int) bool { return extra[i].Name < extra[j].Name })
	for _, r := range extra {
		mac := normalMAC(r.MainMac)
		if mac == "" || have[mac.String()] || have[r.Name] {
			continue
		}
		have[mac.String()] = true
		out = append(out, model.NIC{MAC: mac, HostKind: model.HostKindOther})
	}
	return out
}

// channel tells the agent channel's state from QEMU's chardev of the agent
// socket: frontend-open is the guest side having the port open, that is,
// the agent running (libvirt reads the same flag).
func channel(vm VM, conf PVEConfig, chardevs []raw.ChardevInfo, qmpOK bool) model.ChannelState {
	if vm.Agent == "" || (conf.Agent != nil && !*conf.Agent && !exists(vm.Agent)) {
		return model.ChannelNone
	}
	if !qmpOK {
		if !exists(vm.Agent) {
			return model.ChannelNone
		}
		return model.ChannelUnknown
	}
	if c, ok := agentChardev(vm, chardevs); ok {
		if c.FrontendOpen {
			return model.ChannelConnected
		}
		return model.ChannelDisconnected
	}
	if exists(vm.Agent) {
		return model.ChannelUnknown // a socket QEMU does not report as a chardev
	}
	return model.ChannelNone
}

// agentChardev finds the chardev serving the agent socket: by its path
// (QEMU reports "unix:<path>,server=on", prefixed "disconnected:" while no
// client is connected), else by Proxmox VE's label.
func agentChardev(vm VM, chardevs []raw.ChardevInfo) (raw.ChardevInfo, bool) {
	for _, c := range chardevs {
		if p, _, ok := chardevPath(c.Filename); ok && samePath(p, vm.Agent) {
			return c, true
		}
	}
	for _, c := range chardevs {
		if c.Label == agentChardevLabel {
			return c, true
		}
	}
	return raw.ChardevInfo{}, false
}

// chardevPath reads a socket chardev's filename: the unix path and
// whether a client is connected.
func chardevPath(filename string) (path string, connected, ok bool) {
	rest, disconnected := strings.CutPrefix(filename, "disconnected:")
	rest, ok = strings.CutPrefix(rest, "unix:")
	if !ok {
		return "", false, false
	}
	path, _, _ = strings.Cut(rest, ",")
	return path, !disconnected, true
}

func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// distinctUUIDs keeps one VM from hiding another: of the VMs that share a
// UUID (QEMU's -uuid and Proxmox VE's smbios1 are the VM owner's to set),
// the one that held it alone in the last listing (owners, by UUID) keeps
// it, and every other gets the UUID derived from its own QMP socket, with
// a warning naming the VMs it shares it with — so a VM started with
// another's UUID cannot reset that VM's series and history either. With no
// such owner (a one-shot check, or both new) every sharer gets its derived
// UUID. vmcheck keys its schedule, history and series by UUID. doms[i]
// runs as vms[i]. It returns the owners for the next listing.
func distinctUUIDs(doms []model.Domain, vms []VM, owners map[string]string) map[string]string {
	ids := map[string][]string{}
	for i, d := range doms {
		ids[d.UUID] = append(ids[d.UUID], vms[i].ID)
	}
	next := make(map[string]string, len(doms))
	for i := range doms {
		d := &doms[i]
		sharers := ids[d.UUID]
		if len(sharers) < 2 {
			next[d.UUID] = vms[i].ID
			continue
		}
		others := slices.DeleteFunc(slices.Clone(sharers), func(id string) bool { return id == vms[i].ID })
		if owner, ok := owners[d.UUID]; ok && owner == vms[i].ID {
			next[d.UUID] = owner // it keeps its UUID; the others get theirs
			d.Warnings = append(d.Warnings, fmt.Sprintf("VM %s also reports this VM's UUID %s: this VM keeps it, having held it first; the other is keyed by a UUID of its own",
				strings.Join(others, ", "), d.UUID))
			continue
		}
		claimed := d.UUID
		d.UUID = derivedUUID(vms[i].QMP)
		d.BootID = bootID(d.UUID, vms[i].QMP)
		d.Warnings = append(d.Warnings, fmt.Sprintf("VM %s reports UUID %s, which VM %s also reports: vmcheck keys it by %s, derived from its QMP socket; give each VM its own UUID (Proxmox VE: smbios1 uuid=)",
			vms[i].ID, claimed, strings.Join(others, ", "), d.UUID))
	}
	return next
}

// derivedUUID is a stable name-based (version 5 layout) UUID for a VM
// whose QEMU has no UUID (-uuid, -smbios type=1,uuid=) and no Proxmox VE
// config: it depends on the QMP socket path only.
func derivedUUID(qmpPath string) string {
	h := sha1.Sum([]byte("vmcheck/qemuhost:" + filepath.Clean(qmpPath)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// bootID changes whenever QEMU restarts: QEMU creates its QMP socket anew
// at every start.
func bootID(uuid, qmpPath string) string {
	fi, err := os.Stat(qmpPath)
	if err != nil {
		return ""
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%s/%d-%d", uuid, ino, fi.ModTime().UnixNano())
}

// agent returns the Socket for the VM's agent, shared by every check of
// it, so that vmcheck itself never opens two connections to one agent.
func (s *Source) agent(vm VM) *agentsocket.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.agents[vm.Agent]; ok {
		return a
	}
	opts := s.opts.Agent
	opts.BeforeDial = s.agentFree(vm)
	a := agentsocket.New(vm.Agent, opts)
	s.agents[vm.Agent] = a
	return a
}

// forgetAgents closes the Sockets of agents no longer listed.
func (s *Source) forgetAgents(live map[string]bool) {
	s.mu.Lock()
	var gone []*agentsocket.Socket
	for path, a := range s.agents {
		if !live[path] {
			gone = append(gone, a)
			delete(s.agents, path)
		}
	}
	s.mu.Unlock()
	for _, a := range gone {
		_ = a.Close()
	}
}

// agentFree returns the BeforeDial hook of a VM's agent Socket: it asks
// QMP whether another client (Proxmox VE's own agent calls, a backup's
// fs-freeze, someone's socat) holds the agent socket, waits up to a second
// for it to let go, and otherwise gives up with ErrUnresponsive and that
// reason rather than queueing behind it. When QMP cannot tell, it lets
// the dial go ahead.
func (s *Source) agentFree(vm VM) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		deadline := time.Now().Add(agentBusyWait)
		for {
			held, known := agentHeld(ctx, s.opts.QMPTimeout, vm)
			if !known || !held {
				return nil
			}
			if time.Now().Add(agentBusyPoll).After(deadline) {
				return fmt.Errorf("%w: another client holds the agent socket %s (Proxmox VE's own agent call, a backup's fs-freeze, or a manual session); vmcheck does not contend for it and will try again next round",
					guestagent.ErrUnresponsive, vm.Agent)
			}
			if err := timing.Sleep(ctx, agentBusyPoll); err != nil {
				return fmt.Errorf("%w: another client holds the agent socket %s: %w", guestagent.ErrUnresponsive, vm.Agent, err)
			}
		}
	}
}

// agentHeld asks QMP whether a client is connected to the VM's agent
// socket; known is false when QMP cannot tell.
func agentHeld(ctx context.Context, timeout time.Duration, vm VM) (held, known bool) {
	dom, err := hypervisor.New(newDriver(ctx, timeout, []VM{vm})).Domain(vm.ID)
	if err != nil {
		return false, false
	}
	defer dom.Close()
	var chardevs []raw.ChardevInfo
	if err := run(dom, "query-chardev", &chardevs); err != nil {
		return false, false
	}
	c, ok := agentChardev(vm, chardevs)
	if !ok {
		return false, false
	}
	_, connected, ok := chardevPath(c.Filename)
	return connected, ok
}
