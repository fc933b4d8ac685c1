package cron

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmcheck/vmcheck/exporter/history"
	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
	"github.com/vmcheck/vmcheck/exporter/metrics"
)

// testCollector is the Collector over h of version 1.2.3, built with
// go1.26.0, as the golden file has it.
func testCollector(h *history.History) *metrics.Collector {
	c := metrics.NewCollector(h, "1.2.3")
	c.GoVersion = "go1.26.0"
	return c
}

func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	reg.MustRegister(testCollector(exportertest.History(3)))
	// An older file is replaced.
	if err := os.WriteFile(filepath.Join(dir, "vmcheck.prom"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(dir, "vmcheck.prom", reg); err != nil {
		t.Fatalf("WriteTextfile: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "vmcheck.prom"))
	if err != nil {
		t.Fatal(err)
	}
	counts := exportertest.ParseTextfile(t, b)
	want := map[string]int{
		"vmcheck_domain_state": 30, "vmcheck_domain_info": 6, "vmcheck_agent_up": 6, "vmcheck_probe_success": 10, "vmcheck_diagnosis": 4,
		"vmcheck_libvirt_up": 1, "vmcheck_last_round_timestamp_seconds": 1, "vmcheck_build_info": 1,
	}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s: %d series, want %d", name, counts[name], n)
		}
	}
	// Same bytes as the collector's golden file: one code path.
	exportertest.Golden(t, "collector.prom", b)

	st, err := os.Stat(filepath.Join(dir, "vmcheck.prom"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only vmcheck.prom (no temp file left)", len(entries))
	}
}

func TestWriteTextfileAtomic(t *testing.T) {
	// A reader polling the file while it is rewritten must always see a
	// whole file, never a truncated one.
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	reg.MustRegister(testCollector(exportertest.History(3)))
	path := filepath.Join(dir, "vmcheck.prom")
	if err := WriteTextfile(dir, "vmcheck.prom", reg); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(b, want) {
				t.Errorf("reader saw %d bytes (err %v), want the whole file (%d bytes)", len(b), err, len(want))
				return
			}
		}
	}()
	for range 50 {
		if err := WriteTextfile(dir, "vmcheck.prom", reg); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}

func TestWriteTextfileErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"vmcheck.txt", "../vmcheck.prom", "a/b.prom"} {
		if err := WriteTextfile(t.TempDir(), name, reg); err == nil {
			t.Errorf("WriteTextfile(%q) = nil, want an error", name)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if err := WriteTextfile(missing, "vmcheck.prom", reg); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("WriteTextfile into a missing directory = %v, want an error naming it", err)
	}
}

func TestWriteFileAtomicMode(t *testing.T) {
	// The state file names every VM: 0600, and so is its temporary file
	// at every moment, including when it is renamed into place over an
	// older, more open file.
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var tmpModes []os.FileMode
	renameFile = func(from, to string) error {
		if st, err := os.Stat(from); err == nil {
			tmpModes = append(tmpModes, st.Mode().Perm())
		}
		return os.Rename(from, to)
	}
	defer func() { renameFile = os.Rename }()
	if err := WriteFileAtomic(path, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || len(tmpModes) != 1 || tmpModes[0] != 0o600 {
		t.Errorf("state file mode %v, temporary file modes %v; want 0600 for both", st.Mode().Perm(), tmpModes)
	}
	if b, _ := os.ReadFile(path); string(b) != "{}\n" {
		t.Errorf("state file holds %q", b)
	}
}
