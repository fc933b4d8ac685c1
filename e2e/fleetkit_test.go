//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The fleet test's pieces that need no lab: the webhooks that play every
// Alertmanager receiver, the daemons it starts (ended by their pid), and
// the shipped configuration with only the receivers' URLs replaced.

// amAlert is one alert of an Alertmanager webhook notification (payload
// version 4, https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// amNotice is one notification a receiver's webhook got.
type amNotice struct {
	Path     string    `json:"-"` // the receiver named by the URL it was posted to
	At       time.Time `json:"-"`
	Version  string    `json:"version"`
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"`
	GroupKey string    `json:"groupKey"`
	Alerts   []amAlert `json:"alerts"`
}

func (n amNotice) String() string {
	var as []string
	for _, a := range n.Alerts {
		as = append(as, fmt.Sprintf("%s %s{%s}", a.Status, a.Labels["alertname"], fleetIncident(a)))
	}
	return fmt.Sprintf("%s +%s %s [%s]", n.Receiver, n.At.Format("15:04:05.000"), n.Status, strings.Join(as, ", "))
}

// amSink is the HTTP server behind every receiver's webhook: a POST to
// /hook/<receiver> is recorded with the time it came.
type amSink struct {
	addr string
	mu   sync.Mutex
	got  []amNotice
	bad  []string // requests that were not a notification
}

func amStartSink(t *testing.T) *amSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &amSink{addr: l.Addr().String()}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// url is the webhook URL of receiver.
func (s *amSink) url(receiver string) string {
	return "http://" + s.addr + "/hook/" + url.PathEscape(receiver)
}

func (s *amSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := amNotice{At: time.Now()}
	name, ok := strings.CutPrefix(r.URL.Path, "/hook/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(body, &n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || !ok || err != nil || n.Version != "4" {
		s.bad = append(s.bad, fmt.Sprintf("%s %s: %v %.200s", r.Method, r.URL.Path, err, body))
		http.Error(w, "not an Alertmanager notification", http.StatusBadRequest)
		return
	}
	n.Path = name
	s.got = append(s.got, n)
}

// notices returns what the webhooks got so far, and the requests that
// were no notification.
func (s *amSink) notices() ([]amNotice, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]amNotice(nil), s.got...), append([]string(nil), s.bad...)
}

// fleetIncident names what an alert is about: node/domain for a VM's
// alert, node/alertname[/network] for a shared cause.
func fleetIncident(a amAlert) string {
	l := a.Labels
	if l["domain"] != "" {
		return l["node"] + "/" + l["domain"]
	}
	if l["network"] != "" {
		return l["node"] + "/" + l["alertname"] + "/" + l["network"]
	}
	return l["node"] + "/" + l["alertname"]
}

// lockedBuffer is a log buffer a daemon writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is a process the fleet test started; the test's cleanup ends it
// by its pid (SIGTERM, SIGKILL after 15 s) and shows its log on failure.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

func startDaemon(t *testing.T, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, log: &lockedBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, expTail(d.log.String(), 30))
		}
	})
	return d
}

// exited says whether the daemon has ended, and how.
func (d *daemon) exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

func (d *daemon) stop() {
	if done, _ := d.exited(); done {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// waitReady waits until GET u answers 200 (Prometheus' and Alertmanager's
// /-/ready), failing at once if the daemon exits.
func (d *daemon) waitReady(t *testing.T, u string, limit time.Duration) {
	t.Helper()
	expWait(t, d.name+" ready at "+u, limit, func() (bool, string) {
		if done, err := d.exited(); done {
			t.Fatalf("%s exited: %v\n%s", d.name, err, expTail(d.log.String(), 30))
		}
		_, err := expGet(u)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// promSample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// promQuery runs an instant query against the Prometheus at addr.
func promQuery(addr, q string) ([]promSample, error) {
	b, err := expGet("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "success" {
		return nil, fmt.Errorf("query %s: %v %.300s", q, err, b)
	}
	return r.Data.Result, nil
}

// shippedFiles are the repository's deploy/prometheus rule files and
// deploy/alertmanager files.
type shippedFiles struct {
	rules []string // rule files (a top-level "groups:"), absolute paths
	am    string   // deploy/alertmanager/alertmanager.yml
}

func findShipped(t *testing.T) shippedFiles {
	t.Helper()
	var s shippedFiles
	paths, err := filepath.Glob(filepath.Join("..", "deploy", "prometheus", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		var top map[string]any
		b, err := os.ReadFile(p)
		if err == nil {
			err = yaml.Unmarshal(b, &top)
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// promtool's test files have rule_files and tests, not groups.
		if _, ok := top["groups"]; ok {
			abs, _ := filepath.Abs(p)
			s.rules = append(s.rules, abs)
		}
	}
	if len(s.rules) == 0 {
		t.Fatal("no rule file in deploy/prometheus")
	}
	s.am, _ = filepath.Abs(filepath.Join("..", "deploy", "alertmanager", "alertmanager.yml"))
	return s
}

// amOverlay returns the shipped Alertmanager config (read from dir) with
// only what points outside replaced: every webhook_configs[].url becomes
// hook(receiver's name), and every e-mail smarthost a closed loopback port
// (no packet may leave the machine; the test has no mail server, an e-mail
// receiver it reaches fails its case); relative template paths are made
// absolute (Alertmanager resolves them next to the config file). Routes,
// inhibit rules and timing stay as shipped. It also returns the
// receivers' names.
func amOverlay(shipped []byte, dir string, hook func(string) string) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(shipped, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, errors.New("not a YAML mapping")
	}
	root := doc.Content[0]
	setKey(yamlGet(root, "global"), "smtp_smarthost", "127.0.0.1:1")
	if tm := yamlGet(root, "templates"); tm != nil {
		for _, p := range tm.Content {
			if !filepath.IsAbs(p.Value) {
				p.SetString(filepath.Join(dir, p.Value))
			}
		}
	}
	recv := yamlGet(root, "receivers")
	if recv == nil || recv.Kind != yaml.SequenceNode {
		return nil, nil, errors.New("no receivers list")
	}
	var names []string
	for _, r := range recv.Content {
		name := yamlGet(r, "name")
		if name == nil || name.Value == "" {
			return nil, nil, errors.New("a receiver without a name")
		}
		names = append(names, name.Value)
		if w := yamlGet(r, "webhook_configs"); w != nil {
			for _, c := range w.Content {
				setKey(c, "url", hook(name.Value))
			}
		}
		if e := yamlGet(r, "email_configs"); e != nil {
			for _, c := range e.Content {
				setKey(c, "smarthost", "127.0.0.1:1")
			}
		}
	}
	b, err := yaml.Marshal(&doc)
	return b, names, err
}

// yamlGet returns the value of key in mapping m, or nil.
func yamlGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setKey sets key of mapping m to the string v where m has that key.
func setKey(m *yaml.Node, key, v string) {
	if n := yamlGet(m, key); n != nil {
		n.SetString(v)
	}
}
