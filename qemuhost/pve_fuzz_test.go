package qemuhost

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/digitalocean/go-qemu/qmp/raw"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/model"
)

var canonicalMAC = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

// qemuhostFloods returns hostile inputs of about n bytes.
func qemuhostFloods(n int) map[string][]byte {
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), max(n/len(s), 1)) }
	return map[string][]byte{
		"newlines": rep("\n"),
		"crlf":     rep("\r\n"),
		"ff":       bytes.Repeat([]byte{0xFF}, n),
		"nul":      make([]byte, n),
		"braces":   rep("{}"),
		"nesting":  rep("["),
		"longline": rep("a"),
		"bidi":     rep("\u202E"),
	}
}

// pveFloods returns Proxmox VE configs of about n bytes.
func pveFloods(n int) map[string][]byte {
	rep := func(s string) []byte { return bytes.Repeat([]byte(s), max(n/len(s), 1)) }
	fl := qemuhostFloods(n)
	fl["nics"] = rep("net0: virtio=BC:24:11:2E:C8:9B,bridge=vmbr0,firewall=1\n")
	fl["nicsnomac"] = rep("net7: virtio\n")
	fl["commas"] = append([]byte("net0: "), rep(",")...)
	fl["names"] = rep("name: web-1\n")
	fl["agent"] = append([]byte("agent: "), rep("enabled=1,")...)
	fl["smbios"] = append([]byte("smbios1: "), rep("uuid=8F6B7C1E,")...)
	fl["longname"] = append([]byte("name: "), rep("x")...)
	fl["ipconfigs"] = rep("ipconfig7: ip=192.0.2.5/24,gw=192.0.2.1,ip6=2001:db8::5/64,gw6=2001:db8::1\n")
	var many bytes.Buffer
	for i := 0; many.Len() < n; i++ {
		fmt.Fprintf(&many, "ipconfig%d: ip=10.%d.%d.1/24\n", i, i>>8&0xff, i&0xff)
	}
	fl["manyipconfigs"] = many.Bytes()

	fl["toolong"] = append([]byte("name: "), rep("x")[:min(n, maxPVEConfig)]...)
	return fl
}

// FuzzParsePVEConfig checks ParsePVEConfig on any text, including floods
// of 1 MiB (pmxcfs' limit) and 4 MiB: no panic; an error only for a line of 1 MiB or more
// (bufio.ErrTooLong); NICs sorted by index, none negative, no more of them
// than lines, each MAC empty or canonical; the UUID lower-case; values free
// of line breaks and surrounding space; and whatever follows a "[section]"
// line changes nothing.
func FuzzParsePVEConfig(f *testing.F) {
	paths, _ := filepath.Glob("testdata/pve/*.conf")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("net+5: virtio=bc:24:11:00:00:05\nnet-1: e1000=bc:24:11:00:00:01\nnet99999999999999999999: virtio\n"))
	f.Add([]byte("agent: enabled=yes,fstrim_cloned_disks=1\nname:\u202Eevil\x1b[2J\nsmbios1: uuid=ÄBC\n"))
	f.Add([]byte("ipconfig0: ip=::ffff:192.0.2.1/24,gw=127.0.0.1\nipconfig1: ip6=fe80::1%eth0/64,gw6=ff02::1\nipconfig99999999999999999999: ip=dhcp\nnet0: virtio=bc:24:11:00:00:01,link_down=maybe\n"))
	for _, b := range pveFloods(1 << 20) {
		f.Add(b)
	}
	f.Add(bytes.Repeat([]byte("\n"), 4<<20))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParsePVEConfig(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, bufio.ErrTooLong) || len(data) < maxPVEConfig {
				t.Fatalf("ParsePVEConfig(%d bytes) error %v", len(data), err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if len(cfg.NICs) > lines {
			t.Errorf("%d NICs from %d lines", len(cfg.NICs), lines)
		}
		if !sort.SliceIsSorted(cfg.NICs, func(i, j int) bool { return cfg.NICs[i].Index < cfg.NICs[j].Index }) {
			t.Errorf("NICs not sorted by index")
		}
		for _, n := range cfg.NICs {
			if n.Index < 0 {
				t.Errorf("NIC %+v: negative index", n)
			}
			if n.MAC != "" && !canonicalMAC.MatchString(n.MAC.String()) {
				t.Errorf("NIC %+v: MAC not canonical", n)
			}
			checkPVEValue(t, "model", n.Model)
			checkPVEValue(t, "bridge", n.Bridge)
		}
		checkIPConfigs(t, cfg.IPConfigs)
		if cfg.UUID != strings.ToLower(cfg.UUID) {
			t.Errorf("UUID %.80q not lower-case", cfg.UUID)
		}
		checkPVEValue(t, "name", cfg.Name)
		checkPVEValue(t, "uuid", cfg.UUID)
		if cfg.Name != strings.TrimSpace(cfg.Name) {
			t.Errorf("name %.80q not trimmed", cfg.Name)
		}

		// A snapshot section after the config must not change it.
		if len(data) < 1<<16 {
			more := append(append(data[:len(data):len(data)], "\n[snap]\nname: other\nnet0: virtio=bc:24:11:ff:ff:ff\n"...), data...)
			cfg2, err := ParsePVEConfig(bytes.NewReader(more))
			if err != nil || !reflect.DeepEqual(cfg, cfg2) {
				t.Errorf("a trailing [snap] section changed the config: %+v, %v; want %+v", cfg2, err, cfg)
			}
		}
	})
}

// checkIPConfigs reports ipconfigN entries outside their bounds: more than
// maxPVEIPConfigs, a negative N, more than one address and one gateway per
// family, or an address model.ValidateExpected rejects.
func checkIPConfigs(t *testing.T, ics map[int]PVEIPConfig) {
	t.Helper()
	if len(ics) > maxPVEIPConfigs {
		t.Errorf("%d ipconfig entries", len(ics))
	}
	for n, ic := range ics {
		if n < 0 || len(ic.Addrs) > 2 || len(ic.Gateways) > 2 {
			t.Errorf("ipconfig%d: %+v", n, ic)
		}
		for _, a := range slices.Concat(ic.Addrs, ic.Gateways) {
			if model.ValidateExpected(a) != nil {
				t.Errorf("ipconfig%d: address %v", n, a)
			}
		}
	}
}

// checkPVEValue reports a config value with a line break in it: values are
// cut from one line.
func checkPVEValue(t *testing.T, what, s string) {
	t.Helper()
	if strings.ContainsAny(s, "\n") {
		t.Errorf("%s %.80q contains a newline", what, s)
	}
}

// FuzzPVENICs checks nics, the merge of a Proxmox VE config's NICs with
// QEMU's query-rx-filter list (both fuzzed): no panic; every NIC listed has
// a canonical MAC; no more NICs than the two sources hold; a NIC from the
// config keeps its tap device name; the QMP-only NICs do not repeat a MAC
// and carry no config facts; expected addresses and gateways are valid,
// from "proxmox", at most model.MaxExpectedAddrs.
func FuzzPVENICs(f *testing.F) {
	conf, _ := os.ReadFile("testdata/pve/101.conf")
	f.Add(conf, []byte(`[{"name":"net0","main-mac":"bc:24:11:2e:c8:9b"},{"name":"net2","main-mac":"52:54:00:12:34:56"}]`))
	conf4, _ := os.ReadFile("testdata/pve/104.conf")
	f.Add(conf4, []byte(`[{"name":"net0","main-mac":"bc:24:11:5e:7a:01"},{"name":"net5","main-mac":"52:54:00:12:34:56"}]`))
	conf2, _ := os.ReadFile("testdata/pve/102.conf")
	f.Add(conf2, []byte(`[{"name":"net0","main-mac":"BC:24:11:00:00:00"},{"name":"net1","main-mac":"not a mac"}]`))
	f.Add([]byte("net0: virtio\nnet0: virtio\n"), []byte(`[{"name":"net0","main-mac":"bc:24:11:00:00:01"},{"name":"net0","main-mac":"bc:24:11:00:00:02"}]`))
	var rx bytes.Buffer
	rx.WriteString("[")
	for i := range 300 {
		if i > 0 {
			rx.WriteString(",")
		}
		fmt.Fprintf(&rx, `{"name":"net%d","main-mac":"52:54:00:00:%02x:%02x"}`, i, i>>8, i&0xff)
	}
	rx.WriteString("]")
	f.Add(bytes.Repeat([]byte("net1: virtio\n"), 300), rx.Bytes())
	f.Fuzz(func(t *testing.T, config, rxJSON []byte) {
		if len(config) > 64<<10 || len(rxJSON) > 256<<10 {
			return // nics is quadratic in the two (see BenchmarkPVENICsLarge)
		}
		cfg, err := ParsePVEConfig(bytes.NewReader(config))
		if err != nil {
			return
		}
		var rx []raw.RxFilterInfo
		if json.Unmarshal(rxJSON, &rx) != nil {
			rx = nil
		}
		vm := VM{ID: "101", QMP: "/nonexistent/101.qmp", Agent: "/nonexistent/101.qga"}
		out := nics(vm, cfg, true, rx)
		if len(out) > len(cfg.NICs)+len(rx) {
			t.Errorf("%d NICs from %d config NICs and %d QMP NICs", len(out), len(cfg.NICs), len(rx))
		}
		fromQMP := map[guestagent.MAC]bool{}
		for i, n := range out {
			if !canonicalMAC.MatchString(n.MAC.String()) {
				t.Errorf("NIC %d %+v: MAC not canonical", i, n)
			}
			for _, list := range [][]model.ExpectedAddr{n.Expected, n.Gateways} {
				if len(list) > model.MaxExpectedAddrs || slices.ContainsFunc(list, func(e model.ExpectedAddr) bool {
					return e.Source != "proxmox" || model.ValidateExpected(e.Addr) != nil
				}) {
					t.Errorf("NIC %d: platform addresses %v", i, list)
				}
			}
			if n.Device == "" && (n.LinkDown || n.Expected != nil || n.Gateways != nil) {
				t.Errorf("QMP-only NIC %d with config facts: %+v", i, n)
			}
			if n.Device == "" {
				if fromQMP[n.MAC] {
					t.Errorf("QMP NIC %s listed twice", n.MAC)
				}
				fromQMP[n.MAC] = true
				continue
			}
			if !strings.HasPrefix(n.Device, "tap101i") {
				t.Errorf("NIC %+v: device %q", n, n.Device)
			} else if _, err := strconv.Atoi(strings.TrimPrefix(n.Device, "tap101i")); err != nil {
				t.Errorf("NIC %+v: device %q", n, n.Device)
			}
		}
	})
}

// BenchmarkParsePVEConfigLarge parses 256 KiB and 1 MiB (pmxcfs' limit)
// configs: a real config repeated against floods.
func BenchmarkParsePVEConfigLarge(b *testing.B) {
	conf, err := os.ReadFile("testdata/pve/101.conf")
	if err != nil {
		b.Fatal(err)
	}
	conf, _, _ = bytes.Cut(conf, []byte("\n["))
	conf = append(conf, '\n')
	for _, n := range []int{256 << 10, 1 << 20} {
		fl := pveFloods(n)
		inputs := []struct {
			name string
			data []byte
		}{
			{"plain", bytes.Repeat(conf, n/len(conf))},
			{"newlines", fl["newlines"]},
			{"longline", fl["longname"]},
			{"nics", fl["nics"]},
			{"commas", fl["commas"]},
			{"agent", fl["agent"]},
		}
		for _, in := range inputs {
			b.Run(in.name+"/"+qemuhostSize(n), func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ParsePVEConfig(bytes.NewReader(in.data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// pveNICsInput is k config NICs without a MAC and k QMP NICs, none of
// the same name.
func pveNICsInput(k int) (VM, PVEConfig, []raw.RxFilterInfo) {
	var cfg PVEConfig
	rx := make([]raw.RxFilterInfo, k)
	for i := range k {
		cfg.NICs = append(cfg.NICs, PVENIC{Index: i + k, Model: "virtio"})
		rx[i] = raw.RxFilterInfo{Name: fmt.Sprintf("net%d", i), MainMac: fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff)}
	}
	return VM{ID: "101", QMP: "/nonexistent/101.qmp"}, cfg, rx
}

// BenchmarkPVENICsLarge merges k config NICs without a MAC with k QMP
// NICs: nics looks each config NIC up in the QMP list, so the cost grows
// with k², not k.
func BenchmarkPVENICsLarge(b *testing.B) {
	for _, k := range []int{256, 1024, 4096} {
		vm, cfg, rx := pveNICsInput(k)
		b.Run(strconv.Itoa(k), func(b *testing.B) {
			for b.Loop() {
				nics(vm, cfg, true, rx)
			}
		})
	}
}

// TestPVENICsLinear: nics looks QEMU's MACs up by NIC name once, so four
// times the NICs cost about four times the allocations, not sixteen (it
// used to format "net<N>" anew for every pair of a config NIC without a MAC
// and a query-rx-filter entry).
func TestPVENICsLinear(t *testing.T) {
	allocs := func(k int) float64 {
		vm, cfg, rx := pveNICsInput(k)
		return testing.AllocsPerRun(2, func() { nics(vm, cfg, true, rx) })
	}
	small, large := allocs(64), allocs(256)
	if large > 6*small {
		t.Errorf("nics: %.0f allocations for 64 NICs, %.0f for 256: quadratic", small, large)
	}
}

// qemuhostSize names a size for a sub-benchmark: "256KiB", "1MiB".
func qemuhostSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
