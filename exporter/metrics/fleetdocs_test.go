package metrics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fleetCheckRE is the marker that precedes every YAML example of
// docs/fleet.md: <!-- fleet-check: KIND NAME -->. KIND prometheus: a
// Prometheus config, checked with promtool check config; file: a file
// such a config reads (a file_sd target list), written as NAME beside it.
var fleetCheckRE = regexp.MustCompile(`^<!-- fleet-check: (prometheus|file) ([a-z0-9.-]+\.yml) -->$`)

// exampleHostRE matches the host names of docs/fleet.md's examples.
var exampleHostRE = regexp.MustCompile(`[a-z0-9.-]+\.example\.net`)

// docBlock is a fenced YAML example of a doc, with the kind and file name
// of its marker.
type docBlock struct {
	kind, name string
	line       int
	text       string
}

// fleetDocBlocks returns the YAML examples of a Markdown doc. Every
// ```yaml fence must follow a fleet-check marker, and every marker must
// be followed by one.
func fleetDocBlocks(doc []byte) ([]docBlock, error) {
	var blocks []docBlock
	var marker []string
	var cur *docBlock
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case line == "```yaml":
			if marker == nil {
				return nil, fmt.Errorf("line %d: a YAML example without a <!-- fleet-check: KIND NAME --> line before it", n)
			}
			cur, marker = &docBlock{kind: marker[1], name: marker[2], line: n}, nil
		case marker != nil:
			return nil, fmt.Errorf("line %d: a fleet-check marker not followed by a ```yaml block", n-1)
		default:
			marker = fleetCheckRE.FindStringSubmatch(line)
			if marker == nil && strings.HasPrefix(line, "<!-- fleet-check") {
				return nil, fmt.Errorf("line %d: malformed marker %q", n, line)
			}
		}
	}
	if cur != nil || marker != nil {
		return nil, fmt.Errorf("the doc ends inside a fleet-check example")
	}
	return blocks, sc.Err()
}

// writeFleetBlocks writes the blocks into dir under their names, with the
// shipped rules as vmcheck-alerts.yml (the name the examples load them by).
func writeFleetBlocks(t *testing.T, dir string, blocks []docBlock) {
	t.Helper()
	rules, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmcheck-alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := os.WriteFile(filepath.Join(dir, b.name), []byte(b.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFleetBlocks writes the blocks into dir (writeFleetBlocks) and runs
// promtool check config on each Prometheus config. It returns promtool's
// complaints.
func checkFleetBlocks(t *testing.T, bin, dir string, blocks []docBlock) []string {
	t.Helper()
	writeFleetBlocks(t, dir, blocks)
	var probs []string
	for _, b := range blocks {
		if b.kind != "prometheus" {
			continue
		}
		cmd := exec.Command(bin, "check", "config", b.name)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			probs = append(probs, fmt.Sprintf("line %d, %s: promtool check config: %v\n%s", b.line, b.name, err, out))
		}
	}
	return probs
}

// TestFleetDocsConfigs checks every YAML example of docs/fleet.md with
// the real promtool: the Prometheus configs, the file_sd lists they read,
// and the shipped rules they load.
func TestFleetDocsConfigs(t *testing.T) {
	bin := promtool(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "fleet.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := fleetDocBlocks(doc)
	if err != nil {
		t.Fatalf("docs/fleet.md: %v", err)
	}
	kinds := map[string]int{}
	for _, b := range blocks {
		kinds[b.kind]++
	}
	if kinds["prometheus"] < 3 || kinds["file"] < 1 {
		t.Fatalf("docs/fleet.md: %v examples by kind, want at least 3 Prometheus configs and 1 file", kinds)
	}
	for _, p := range checkFleetBlocks(t, bin, t.TempDir(), blocks) {
		t.Errorf("docs/fleet.md: %s", p)
	}
}

// TestFleetDocsChecksBite makes sure the checks fail on broken examples:
// a misspelt key, a file_sd list of the wrong shape, a config whose rules
// file is missing, a YAML block without its marker.
func TestFleetDocsChecksBite(t *testing.T) {
	bin := promtool(t)
	cfg := "scrape_configs:\n  - job_name: vmcheck\n    file_sd_configs:\n      - files: [nodes.yml]\n"
	tests := []struct {
		name   string
		blocks []docBlock
	}{
		{"misspelt key", []docBlock{{kind: "prometheus", name: "p.yml", text: "global:\n  scrape_intervall: 30s\n"}}},
		{"bad file_sd list", []docBlock{{kind: "prometheus", name: "p.yml", text: cfg}, {kind: "file", name: "nodes.yml", text: "targets: [a:1]\n"}}},
		{"missing rules file", []docBlock{{kind: "prometheus", name: "p.yml", text: "rule_files: [other-rules.yml]\n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkFleetBlocks(t, bin, t.TempDir(), tt.blocks); len(got) == 0 {
				t.Errorf("checkFleetBlocks(%s) found nothing wrong", tt.name)
			}
		})
	}
	if _, err := fleetDocBlocks([]byte("text\n```yaml\na: 1\n```\n")); err == nil {
		t.Error("fleetDocBlocks accepted a YAML block without a marker")
	}
}

// TestFleetDocsRelabel runs a real Prometheus (Debian package prometheus)
// on docs/fleet.md's site config, with loopback targets in its file_sd
// list, and reads the targets' labels: instance is the node's name, and a
// target without a node label is named after its address's host.
func TestFleetDocsRelabel(t *testing.T) {
	promtool(t) // skips without the prometheus package
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found beside promtool: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "fleet.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := fleetDocBlocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// No packet leaves the machine: every example host is loopback.
	for i := range blocks {
		blocks[i].text = exampleHostRE.ReplaceAllString(blocks[i].text, "127.0.0.1")
	}
	writeFleetBlocks(t, dir, blocks)
	nodes := "- targets: [\"127.0.0.1:1\"]\n  labels:\n    node: compute-1\n- targets: [\"127.0.0.2:2\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "vmcheck-nodes.yml"), []byte(nodes), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file=prometheus.yml", "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"))
	cmd.Dir = dir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	want := map[string]string{"127.0.0.1:1": "compute-1", "127.0.0.2:2": "127.0.0.2"}
	var got map[string]map[string]string
	for len(got) < len(want) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		got = activeTargets(ctx, "http://"+addr+"/api/v1/targets")
	}
	for a, node := range want {
		if l := got[a]; l["node"] != node || l["instance"] != node || l["job"] != "vmcheck" {
			t.Errorf("target %s: labels %v, want job vmcheck, node and instance %s", a, l, node)
		}
	}
	if t.Failed() {
		t.Logf("prometheus:\n%s", log.String())
	}
}

// activeTargets returns the labels of Prometheus's active targets by
// their discovered address, or nil while it does not answer.
func activeTargets(ctx context.Context, url string) map[string]map[string]string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			ActiveTargets []struct {
				Labels           map[string]string `json:"labels"`
				DiscoveredLabels map[string]string `json:"discoveredLabels"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return nil
	}
	out := map[string]map[string]string{}
	for _, tg := range r.Data.ActiveTargets {
		out[tg.DiscoveredLabels["__address__"]] = tg.Labels
	}
	return out
}

// argsLineRE matches a shell assignment of flags in docs/fleet.md:
// SERVE_ARGS="...", CRON_ARGS="..." (vmcheck's /etc/default/vmcheck) or
// ARGS="..." (Debian's /etc/default/prometheus-alertmanager).
var argsLineRE = regexp.MustCompile(`(?m)^((?:SERVE_|CRON_)?ARGS)="([^"]*)"$`)

// TestFleetDocsArgs checks the flag settings docs/fleet.md shows: each of
// vmcheck's is one of the examples of deploy/systemd/vmcheck.default
// (which make package-check runs through the packaged vmcheck), and the
// Alertmanager's are accepted by the real prometheus-alertmanager.
func TestFleetDocsArgs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "fleet.md"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile(filepath.Join(deployDir, "systemd", "vmcheck.default"))
	if err != nil {
		t.Fatal(err)
	}
	lines := argsLineRE.FindAllStringSubmatch(string(doc), -1)
	if len(lines) < 2 {
		t.Fatalf("docs/fleet.md: %d flag settings, want vmcheck's and the Alertmanager's", len(lines))
	}
	for _, l := range lines {
		if l[1] != "ARGS" {
			if !regexp.MustCompile(`(?m)^#? *` + regexp.QuoteMeta(l[0]) + `$`).Match(def) {
				t.Errorf("docs/fleet.md shows %s, which is none of the examples of deploy/systemd/vmcheck.default", l[0])
			}
			continue
		}
		bin, err := exec.LookPath("prometheus-alertmanager")
		if err != nil {
			if os.Getenv("VMCHECK_REQUIRE_PROMTOOL") != "" {
				t.Fatal("prometheus-alertmanager not found: apt-get install prometheus-alertmanager")
			}
			t.Skip("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
		}
		// The docs' host names are not resolved: --help ends the run after the flags parse.
		if out, err := exec.Command(bin, append(strings.Fields(l[2]), "--help")...).CombinedOutput(); err != nil {
			t.Errorf("docs/fleet.md: prometheus-alertmanager refuses %s: %v\n%s", l[0], err, lastLines(out, 3))
		}
	}
}

// lastLines returns the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
