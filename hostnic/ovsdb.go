package hostnic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmcheck/vmcheck/guestagent"
)

// ovsPort is what Open vSwitch's database says of one interface and
// where its port is.
type ovsPort struct {
	found      bool   // an Interface row exists
	name       string // its name
	ifaceType  string // "", "internal", "dpdkvhostuser", "dpdkvhostuserclient", …
	ofport     int64  // -1: not attached; 0 with ofportSet false: not yet
	ofportSet  bool
	admin      string // admin_state: up, down or ""
	linkState  string // link_state: up, down or ""
	errText    string // the error column
	externalID map[string]string
	options    map[string]string
	bridge     string // the bridge whose ports hold the interface's port, "" for none
	datapath   string // that bridge's datapath_type
	ovnBridge  string // Open_vSwitch external_ids:ovn-bridge when OVN's controller is configured
}

// ovsQuery is what ovs-vsctl is asked: the Interface by name, or, for a
// vhost-user socket QEMU serves, by options:vhost-server-path.
type ovsQuery struct {
	name, serverPath string
}

// ovsVsctlArgs is the read-only ovs-vsctl command that reads one
// interface: its Interface row, the Port holding it (by name; every Port's
// interfaces when the query is by path), every Bridge's name and ports,
// and Open_vSwitch's external_ids (OVN's marks). The name is validName,
// the path validPath.
func ovsVsctlArgs(db string, q ovsQuery, timeout time.Duration) []string {
	secs := max(1, int(timeout/time.Second))
	iface, port := []string{"find", "Interface", "name=" + q.name}, []string{"find", "Port", "name=" + q.name}
	if q.serverPath != "" {
		iface, port = []string{"find", "Interface", "options:vhost-server-path=" + strconv.Quote(q.serverPath)}, []string{"list", "Port"}
	}
	args := []string{"ovs-vsctl", "--db=" + db, "--timeout=" + strconv.Itoa(secs), "--format=json",
		"--", "--columns=_uuid,name,type,ofport,admin_state,link_state,external_ids,error,options"}
	args = append(append(args, iface...), "--", "--columns=_uuid,name,interfaces")
	args = append(append(args, port...), "--", "--columns=name,ports,datapath_type", "list", "Bridge",
		"--", "--columns=external_ids", "list", "Open_vSwitch")
	return args
}

// readOVS runs ovsVsctlArgs within ctx's deadline (at most maxCommandTime).
func readOVS(ctx context.Context, o Options, q ovsQuery) (ovsPort, error) {
	timeout := maxCommandTime
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return ovsPort{}, fmt.Errorf("no time left to ask Open vSwitch: %w", context.DeadlineExceeded)
	}
	out, err := o.Run(ctx, ovsVsctlArgs(o.OVSDB, q, timeout))
	if err != nil {
		return ovsPort{}, err
	}
	return parseOVS(out)
}

// ovsTable is one table of ovs-vsctl --format=json.
type ovsTable struct {
	Data     [][]json.RawMessage `json:"data"`
	Headings []string            `json:"headings"`
}

// row is one row by column name.
func (t ovsTable) row(i int) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(t.Headings))
	for j, h := range t.Headings {
		if j < len(t.Data[i]) {
			m[h] = t.Data[i][j]
		}
	}
	return m
}

// parseOVS reads the four tables ovsVsctlArgs prints.
func parseOVS(out []byte) (ovsPort, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var tabs [4]ovsTable
	for i := range tabs {
		if err := dec.Decode(&tabs[i]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return ovsPort{}, fmt.Errorf("reading ovs-vsctl's answer (table %d of 4): %w", i+1, err)
		}
	}
	var p ovsPort
	if len(tabs[3].Data) > 0 {
		ext := ovsMap(tabs[3].row(0)["external_ids"])
		if ext["ovn-remote"] != "" {
			p.ovnBridge = ext["ovn-bridge"]
			if p.ovnBridge == "" {
				p.ovnBridge = "br-int" // ovn-controller's default
			}
		}
	}
	if len(tabs[0].Data) == 0 {
		return p, nil
	}
	r := tabs[0].row(0)
	p.found, p.name = true, guestagent.Sanitize(ovsString(r["name"]), 64)
	iface := ovsUUIDs(r["_uuid"])
	p.ifaceType = ovsString(r["type"])
	p.ofport, p.ofportSet = ovsInt(r["ofport"])
	p.admin, p.linkState = ovsString(r["admin_state"]), ovsString(r["link_state"])
	p.errText = guestagent.Sanitize(ovsString(r["error"]), 200)
	p.externalID, p.options = ovsMap(r["external_ids"]), ovsMap(r["options"])
	port := portOf(tabs[1], iface)
	for i := range tabs[2].Data {
		b := tabs[2].row(i)
		for _, u := range ovsUUIDs(b["ports"]) {
			if port != "" && u == port {
				p.bridge, p.datapath = guestagent.Sanitize(ovsString(b["name"]), 64), ovsString(b["datapath_type"])
			}
		}
	}
	return p, nil
}

// portOf is the uuid of the Port row whose interfaces hold the interface
// iface (one uuid), "" if none.
func portOf(ports ovsTable, iface []string) string {
	if len(iface) != 1 {
		return ""
	}
	for i := range ports.Data {
		r := ports.row(i)
		if slices.Contains(ovsUUIDs(r["interfaces"]), iface[0]) {
			if u := ovsUUIDs(r["_uuid"]); len(u) == 1 {
				return u[0]
			}
		}
	}
	return ""
}

// ovsString is an OVSDB atom or optional value (a set of at most one) as
// a string; "" for an empty set or another type.
func ovsString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var set []json.RawMessage
	if json.Unmarshal(v, &set) == nil && len(set) == 2 && string(set[0]) == `"set"` {
		var items []string
		if json.Unmarshal(set[1], &items) == nil && len(items) == 1 {
			return items[0]
		}
	}
	return ""
}

// ovsInt is an integer atom or a set of one; ok false for an empty set.
func ovsInt(v json.RawMessage) (int64, bool) {
	var n int64
	if json.Unmarshal(v, &n) == nil {
		return n, true
	}
	var set []json.RawMessage
	if json.Unmarshal(v, &set) == nil && len(set) == 2 && string(set[0]) == `"set"` {
		var items []int64
		if json.Unmarshal(set[1], &items) == nil && len(items) == 1 {
			return items[0], true
		}
	}
	return 0, false
}

// ovsMap is an OVSDB map of strings: ["map", [[k, v], …]].
func ovsMap(v json.RawMessage) map[string]string {
	var m []json.RawMessage
	if json.Unmarshal(v, &m) != nil || len(m) != 2 || string(m[0]) != `"map"` {
		return nil
	}
	var pairs [][2]string
	if json.Unmarshal(m[1], &pairs) != nil {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		out[kv[0]] = kv[1]
	}
	return out
}

// ovsUUIDs is a uuid atom ["uuid", "…"] or a set of them.
func ovsUUIDs(v json.RawMessage) []string {
	var pair []json.RawMessage
	if json.Unmarshal(v, &pair) != nil || len(pair) != 2 {
		return nil
	}
	switch string(pair[0]) {
	case `"uuid"`:
		var u string
		if json.Unmarshal(pair[1], &u) == nil {
			return []string{u}
		}
	case `"set"`:
		var items []json.RawMessage
		if json.Unmarshal(pair[1], &items) != nil {
			return nil
		}
		var out []string
		for _, it := range items {
			out = append(out, ovsUUIDs(it)...)
		}
		return out
	}
	return nil
}

// ovsFacts names what the database says of the port, for HostSide.Facts.
func (p ovsPort) facts(name string) []string {
	if !p.found {
		return []string{"no Open vSwitch interface " + name}
	}
	f := []string{fmt.Sprintf("OVS interface %s on bridge %s", name, orNone(p.bridge))}
	if p.ifaceType != "" {
		f = append(f, "type "+p.ifaceType)
	}
	if p.ofportSet {
		f = append(f, "ofport "+strconv.FormatInt(p.ofport, 10))
	}
	f = append(f, "admin_state "+orNone(p.admin), "link_state "+orNone(p.linkState))
	if id := p.externalID["iface-id"]; id != "" {
		f = append(f, "iface-id "+guestagent.Sanitize(id, 64))
	}
	if p.errText != "" {
		f = append(f, "error: "+p.errText)
	}
	return f
}

// notAttached says why an interface row has no OpenFlow port: ofport -1
// (could not be opened, with the error column) or none yet; "" when it is
// attached.
func (p ovsPort) notAttached() string {
	switch {
	case p.ofportSet && p.ofport == -1:
		why := "ofport -1: Open vSwitch could not open the device"
		if p.errText != "" {
			why += " (" + p.errText + ")"
		}
		return why
	case !p.ofportSet:
		return "no ofport: Open vSwitch has not attached it"
	}
	return ""
}

// isOVN reports whether the port is an OVN logical port: ovn-controller
// marked the interface (external_ids:ovn-installed), or the node's
// ovn-controller is configured (Open_vSwitch external_ids:ovn-remote) and
// the port is on its integration bridge with an iface-id.
func (p ovsPort) isOVN() bool {
	if _, ok := p.externalID["ovn-installed"]; ok {
		return true
	}
	return p.ovnBridge != "" && p.bridge == p.ovnBridge && p.externalID["iface-id"] != ""
}

// trimmedID is an iface-id as vmcheck compares it.
func trimmedID(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
