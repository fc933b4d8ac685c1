package qemuhost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/schedule"
	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
	"github.com/vmcheck/vmcheck/qemuhost"
)

// The Source serves the exporter's Runner as well as check and cron.
var _ schedule.Conn = (*qemuhost.Source)(nil)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// fakeQMP is a QMP socket served in-process. Replies maps a command to
// its raw reply line; each connection gets the greeting first. With
// events set, an event precedes every reply.
type fakeQMP struct {
	mu      sync.Mutex
	replies map[string]string
	silent  bool // accept, never greet
	events  bool
	conns   atomic.Int32
}

func (q *fakeQMP) set(command, reply string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.replies[command] = reply
}

func (q *fakeQMP) serve(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			q.conns.Add(1)
			q.session(conn)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

func (q *fakeQMP) session(conn net.Conn) {
	if q.silent {
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	fmt.Fprintln(conn, `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}`)
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req struct {
			Execute string `json:"execute"`
		}
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintln(conn, `{"error": {"class": "GenericError", "desc": "JSON parse error"}}`)
			continue
		}
		if q.events {
			fmt.Fprintln(conn, `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "NIC_RX_FILTER_CHANGED", "data": {"name": "net0"}}`)
		}
		q.mu.Lock()
		reply, ok := q.replies[req.Execute]
		q.mu.Unlock()
		switch {
		case req.Execute == "qmp_capabilities":
			reply = `{"return": {}}`
		case !ok:
			reply = fmt.Sprintf(`{"error": {"class": "CommandNotFound", "desc": "The command %s has not been found"}}`, req.Execute)
		}
		fmt.Fprintln(conn, reply)
	}
}

// vmReplies are the QMP replies of a typical VM whose agent socket is at
// agent.
func vmReplies(name, status string, running bool, uuid, agent string, agentOpen bool, macs ...string) map[string]string {
	var rx []string
	for i, m := range macs {
		rx = append(rx, fmt.Sprintf(`{"promiscuous": false, "name": "net%d", "main-mac": %q, "unicast": "normal", "vlan": "none", "vlan-table": [], "unicast-table": [], "multicast": "normal", "multicast-overflow": false, "unicast-overflow": false, "multicast-table": [], "broadcast-allowed": false}`, i, m))
	}
	return map[string]string{
		"query-status": fmt.Sprintf(`{"return": {"status": %q, "singlestep": false, "running": %v}}`, status, running),
		"query-name":   fmt.Sprintf(`{"return": {"name": %q}}`, name),
		"query-uuid":   fmt.Sprintf(`{"return": {"UUID": %q}}`, uuid),
		"query-chardev": fmt.Sprintf(`{"return": [{"frontend-open": true, "filename": "unix:/run/x.qmp,server=on", "label": "qmp"}, `+
			`{"frontend-open": %v, "filename": "disconnected:unix:%s,server=on", "label": "qga0"}]}`, agentOpen, agent),
		"query-rx-filter": `{"return": [` + strings.Join(rx, ", ") + `]}`,
	}
}

// pongAgent serves a guest agent socket that answers guest-ping and
// resyncs; it counts connections.
func pongAgent(t *testing.T, path string) *atomic.Int32 {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			r := bufio.NewReader(conn)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					break
				}
				var req struct {
					Execute   string `json:"execute"`
					Arguments struct {
						ID int64 `json:"id"`
					} `json:"arguments"`
				}
				for len(line) > 0 && line[0] == 0xFF {
					line = line[1:] // the client's parser reset
				}
				_ = json.Unmarshal(line, &req)
				if req.Execute == "guest-sync-delimited" {
					fmt.Fprintf(conn, "\xff{\"return\": %d}\n", req.Arguments.ID)
				} else {
					fmt.Fprintln(conn, `{"return": {}}`)
				}
			}
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return &n
}

// staleSocket leaves a socket file nobody listens on, as a killed QEMU
// does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

func copyConf(t *testing.T, dir, id, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".conf"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func byName(doms []model.Domain) map[string]model.Domain {
	m := map[string]model.Domain{}
	for _, d := range doms {
		m[d.Name] = d
	}
	return m
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDomains(t *testing.T) {
	run := t.TempDir()
	conf := t.TempDir()
	sock := func(name string) string { return filepath.Join(run, name) }

	// 101: running, Proxmox config, agent up; events interleaved.
	q101 := &fakeQMP{replies: vmReplies("web-1", "running", true, "8f6b7c1e-2d3a-4b5c-9d8e-7f6a5b4c3d2e", sock("101.qga"), true, "BC:24:11:2E:C8:9B", "52:54:00:99:99:99"), events: true}
	q101.serve(t, sock("101.qmp"))
	pongAgent(t, sock("101.qga"))
	copyConf(t, conf, "101", "name: web-1\nagent: 1\nnet0: virtio=BC:24:11:2E:C8:9B,bridge=vmbr0\nnet2: e1000=BC:24:11:00:00:01,bridge=vmbr1\n")
	// 102: paused, no config, no UUID, agent not running in the guest.
	(&fakeQMP{replies: vmReplies("db", "paused", false, "00000000-0000-0000-0000-000000000000", sock("102.qga"), false, "52:54:00:00:01:02")}).serve(t, sock("102.qmp"))
	pongAgent(t, sock("102.qga"))
	// 103: QEMU gone, sockets left behind.
	staleSocket(t, sock("103.qmp"))
	staleSocket(t, sock("103.qga"))
	// 104: QMP never answers; the config names it.
	(&fakeQMP{silent: true}).serve(t, sock("104.qmp"))
	pongAgent(t, sock("104.qga"))
	copyConf(t, conf, "104", "name: hung\nnet0: virtio=BC:24:11:00:01:04,bridge=vmbr0\n")
	// 105: a run state go-qemu does not know, not running.
	r105 := vmReplies("future", "hibernating", false, "", sock("105.qga"), true)
	(&fakeQMP{replies: r105}).serve(t, sock("105.qmp"))
	// 106: crashed guest, no agent socket and no agent chardev.
	r106 := vmReplies("panicked", "guest-panicked", false, "", "/nowhere", false)
	r106["query-chardev"] = `{"return": [{"frontend-open": true, "filename": "unix:/run/x.qmp,server=on", "label": "qmp"}]}`
	r106["query-rx-filter"] = `{"error": {"class": "GenericError", "desc": "net client(net0) doesn't support rx-filter querying"}}`
	(&fakeQMP{replies: r106}).serve(t, sock("106.qmp"))
	// Not VMs: other files, sockets with other suffixes, bad names.
	for _, f := range []string{"107.pid", "108.vnc", "-x.qmp"} {
		if err := os.WriteFile(sock(f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	staleSocket(t, sock("109.mon"))
	// An explicit VM elsewhere.
	other := t.TempDir()
	(&fakeQMP{replies: vmReplies("", "running", true, "", filepath.Join(other, "agent"), true, "52:54:00:00:02:01")}).serve(t, filepath.Join(other, "qmp"))

	src, err := qemuhost.New(qemuhost.Options{
		Dir: run, PVEConfigDir: conf, QMPTimeout: 300 * time.Millisecond,
		VMs: []qemuhost.VM{{ID: "lab-vm", QMP: filepath.Join(other, "qmp"), Agent: filepath.Join(other, "agent")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	doms, err := src.Domains(context.Background())
	if err != nil {
		t.Fatalf("Domains: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Domains took %v with a hung QMP socket and a 300ms QMP timeout", d)
	}
	got := byName(doms)
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
	}
	if want := "web-1 db hung future panicked lab-vm"; strings.Join(names, " ") != want {
		t.Fatalf("Domains = %v, want %s (ordered by vmid, stale 103 left out)", names, want)
	}

	web := got["web-1"]
	wantNICs := []model.NIC{
		{MAC: "bc:24:11:2e:c8:9b", Device: "tap101i0", Model: "virtio", SourceType: "bridge", Source: "vmbr0", Bridge: "vmbr0", HostKind: model.HostKindBridge},
		{MAC: "bc:24:11:00:00:01", Device: "tap101i2", Model: "e1000", SourceType: "bridge", Source: "vmbr1", Bridge: "vmbr1", HostKind: model.HostKindBridge},
		{MAC: "52:54:00:99:99:99", HostKind: model.HostKindOther}, // net1: hot-plugged, not in the config
	}
	if web.UUID != "8f6b7c1e-2d3a-4b5c-9d8e-7f6a5b4c3d2e" || web.State != model.Running || web.Channel != model.ChannelConnected ||
		!strings.HasPrefix(web.BootID, web.UUID+"/") || !equalNICs(web.NICs, wantNICs) {
		t.Errorf("web-1 = %+v\nwant running, connected, NICs %+v", web, wantNICs)
	}
	if err := guestagent.New(web.Agent).Ping(context.Background()); err != nil {
		t.Errorf("web-1 agent: %v", err)
	}

	db := got["db"]
	if db.State != model.Paused || db.Channel != model.ChannelDisconnected || !uuidRE.MatchString(db.UUID) ||
		!equalNICs(db.NICs, []model.NIC{{MAC: "52:54:00:00:01:02", HostKind: model.HostKindOther}}) {
		t.Errorf("db = %+v, want paused, disconnected, a derived UUID, NIC from QMP", db)
	}
	hung := got["hung"]
	if hung.State != model.Running || hung.Channel != model.ChannelUnknown || hung.NICs[0].Bridge != "vmbr0" {
		t.Errorf("hung = %+v, want running with unknown channel, from its config", hung)
	}
	if f := got["future"]; f.State != model.Paused {
		t.Errorf("future.State = %q, want paused (not running, status unknown to go-qemu)", f.State)
	}
	if p := got["panicked"]; p.State != model.Other || p.Channel != model.ChannelNone || len(p.NICs) != 0 {
		t.Errorf("panicked = %+v, want other, no channel, no NICs", p)
	}
	if v := got["lab-vm"]; v.Channel != model.ChannelConnected || len(v.NICs) != 1 {
		t.Errorf("lab-vm = %+v, want the explicit VM named by its id", v)
	}

	// A second round gives the same identities and the same agent Socket.
	again, err := src.Domains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a := byName(again)["web-1"]; a.BootID != web.BootID || a.UUID != web.UUID || a.Agent != web.Agent {
		t.Errorf("second round: web-1 = %s %s, want %s %s and the same agent", a.UUID, a.BootID, web.UUID, web.BootID)
	}
	// Two listings, and one look at the agent chardev before the agent
	// socket was first dialled.
	if n := q101.conns.Load(); n != 3 {
		t.Errorf("%d QMP sessions with 101, want 3", n)
	}
}

// equalNICs compares NICs but for their host-side inspection, which only
// a NIC of a known kind has.
func equalNICs(a, b []model.NIC) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if (x.Host != nil) != (x.HostKind != model.HostKindOther) {
			return false
		}
		x.Host, y.Host = nil, nil
		if fmt.Sprint(x) != fmt.Sprint(y) {
			return false
		}
	}
	return true
}

// TestAgentHeldByAnotherClient: while QMP reports a client on the agent
// socket, the Source does not connect and reports the agent unresponsive,
// saying why; once the socket is free, it connects.
func TestAgentHeldByAnotherClient(t *testing.T) {
	run := t.TempDir()
	agent := filepath.Join(run, "200.qga")
	q := &fakeQMP{replies: vmReplies("busy", "running", true, "", agent, true)}
	free := q.replies["query-chardev"]
	held := strings.Replace(free, "disconnected:unix:", "unix:", 1)
	q.set("query-chardev", held)
	q.serve(t, filepath.Join(run, "200.qmp"))
	conns := pongAgent(t, agent)

	src, err := qemuhost.New(qemuhost.Options{Dir: run, PVEConfigDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	doms, err := src.Domains(context.Background())
	if err != nil || len(doms) != 1 {
		t.Fatalf("Domains = %v, %v", doms, err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = guestagent.New(doms[0].Agent).Ping(ctx)
	if !errors.Is(err, guestagent.ErrUnresponsive) || !strings.Contains(err.Error(), "another client holds the agent socket") {
		t.Errorf("Ping with the socket held = %v, want ErrUnresponsive naming the other client", err)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want about 1s", d)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the held agent socket, want none", n)
	}

	q.set("query-chardev", free)
	if err := guestagent.New(doms[0].Agent).Ping(ctx); err != nil {
		t.Errorf("Ping once the socket is free: %v", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts qemuhost.Options
		want string
	}{
		{"nothing", qemuhost.Options{}, "neither a socket directory nor VMs"},
		{"bad id", qemuhost.Options{VMs: []qemuhost.VM{{ID: "../x", QMP: "/q"}}}, `id "../x"`},
		{"no qmp", qemuhost.Options{VMs: []qemuhost.VM{{ID: "a"}}}, "no QMP socket"},
		{"twice", qemuhost.Options{VMs: []qemuhost.VM{{ID: "a", QMP: "/q"}, {ID: "a", QMP: "/r"}}}, "listed twice"},
	}
	for _, tc := range tests {
		if _, err := qemuhost.New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestDomainsDirMissing(t *testing.T) {
	src, err := qemuhost.New(qemuhost.Options{Dir: filepath.Join(t.TempDir(), "absent")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Domains(context.Background()); err == nil {
		t.Error("Domains with a missing socket directory succeeded")
	}
}

// TestDomainsDuplicateUUID: a VM that claims another's UUID (QEMU -uuid,
// Proxmox VE smbios1: the VM owner's to set) hides neither: both are
// listed under distinct UUIDs, each with a warning naming the other.
func TestDomainsDuplicateUUID(t *testing.T) {
	run := t.TempDir()
	sock := func(name string) string { return filepath.Join(run, name) }
	const shared = "8f6b7c1e-2d3a-4b5c-9d8e-7f6a5b4c3d2e"
	for i, id := range []string{"201", "202"} {
		(&fakeQMP{replies: vmReplies("vm-"+id, "running", true, shared, sock(id+".qga"), true, fmt.Sprintf("52:54:00:00:02:0%d", i))}).serve(t, sock(id+".qmp"))
		pongAgent(t, sock(id+".qga"))
	}
	(&fakeQMP{replies: vmReplies("vm-203", "running", true, "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01", sock("203.qga"), true, "52:54:00:00:02:03")}).serve(t, sock("203.qmp"))
	pongAgent(t, sock("203.qga"))
	src, err := qemuhost.New(qemuhost.Options{Dir: run, PVEConfigDir: t.TempDir(), QMPTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	doms, err := src.Domains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byName(doms)
	a, b, c := got["vm-201"], got["vm-202"], got["vm-203"]
	if len(doms) != 3 || a.UUID == b.UUID || a.UUID == shared || b.UUID == shared || !uuidRE.MatchString(a.UUID) {
		t.Fatalf("UUIDs %q, %q of two VMs claiming %s: want two distinct derived UUIDs", a.UUID, b.UUID, shared)
	}
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "VM 202 also reports") || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "VM 201 also reports") {
		t.Errorf("warnings %q, %q: want each to name the other VM", a.Warnings, b.Warnings)
	}
	if c.UUID != "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a01" || len(c.Warnings) != 0 {
		t.Errorf("the VM with a UUID of its own: %q, warnings %q", c.UUID, c.Warnings)
	}
}

// TestDomainsDuplicateUUIDLater: a VM that starts with the UUID of one
// already running cannot take it over: the first keeps its UUID (its
// series and history stay), the newcomer gets one of its own.
func TestDomainsDuplicateUUIDLater(t *testing.T) {
	run := t.TempDir()
	sock := func(name string) string { return filepath.Join(run, name) }
	const shared = "8f6b7c1e-2d3a-4b5c-9d8e-7f6a5b4c3d2e"
	start := func(id, mac string) {
		(&fakeQMP{replies: vmReplies("vm-"+id, "running", true, shared, sock(id+".qga"), true, mac)}).serve(t, sock(id+".qmp"))
		pongAgent(t, sock(id+".qga"))
	}
	start("301", "52:54:00:00:03:01")
	src, err := qemuhost.New(qemuhost.Options{Dir: run, PVEConfigDir: t.TempDir(), QMPTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if doms, err := src.Domains(context.Background()); err != nil || len(doms) != 1 || doms[0].UUID != shared {
		t.Fatalf("alone: %+v, %v", doms, err)
	}
	start("302", "52:54:00:00:03:02")
	doms, err := src.Domains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byName(doms)
	first, later := got["vm-301"], got["vm-302"]
	if first.UUID != shared || later.UUID == shared || !uuidRE.MatchString(later.UUID) {
		t.Fatalf("UUIDs %q (held first), %q (came later): want the first to keep %s", first.UUID, later.UUID, shared)
	}
	if len(first.Warnings) != 1 || !strings.Contains(first.Warnings[0], "VM 302 also reports this VM's UUID") ||
		len(later.Warnings) != 1 || !strings.Contains(later.Warnings[0], "which VM 301 also reports") {
		t.Errorf("warnings %q, %q", first.Warnings, later.Warnings)
	}
}
