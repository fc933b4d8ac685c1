package web

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/exporter/internal/exportertest"
)

// chromiumFlags are the flags a headless Chromium needs in CI (root, no
// GPU, no network chatter).
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
}

// chromium returns the path of Debian's chromium, skipping the test when it
// is missing unless VMCHECK_REQUIRE_CHROMIUM is set (CI sets it; `apt-get
// install chromium` provides it).
func chromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("VMCHECK_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("chromium not found: apt-get install chromium")
		}
		t.Skip("chromium not installed (apt-get install chromium); set VMCHECK_REQUIRE_CHROMIUM=1 to make this a failure")
	}
	return p
}

// dumpDOM loads url in headless Chromium and returns the DOM after its
// scripts ran.
func dumpDOM(t *testing.T, bin, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir(), "--virtual-time-budget=2000", "--dump-dom", url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

func TestStatusPageChromium(t *testing.T) {
	bin := chromium(t)
	srv := testServer(t, historyWithExchange(t))
	dom := dumpDOM(t, bin, srv.URL+"/")
	if n := strings.Count(dom, `<tr class="vm"`); n != 6 {
		t.Errorf("Chromium shows %d VM rows, want 6:\n%s", n, dom)
	}
	if !strings.Contains(dom, `data-js="ok"`) {
		t.Errorf("the page's script did not run in Chromium")
	}
	// The script turned absolute times into relative ones.
	if !regexp.MustCompile(`<time [^>]*>\d+[dhms][^<]* ago</time>`).MatchString(dom) {
		t.Errorf("no relative time rendered by the script")
	}
	if strings.Contains(dom, "<img") {
		t.Errorf("guest text became markup in the browser")
	}

	dom = dumpDOM(t, bin, srv.URL+"/vm/"+exportertest.UUIDDebian)
	if !strings.Contains(dom, `data-js="ok"`) || !strings.Contains(dom, "guest-exec-status") {
		t.Errorf("VM page did not render in Chromium:\n%s", dom)
	}
}
