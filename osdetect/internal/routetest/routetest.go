// Package routetest holds the test helpers of the route parsers of
// osdetect and its family packages: the captured route tables in the
// repository's testdata/routes, and the checks every parsed route passes.
package routetest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vmcheck/vmcheck/osdetect"
)

// dir returns the repository's testdata/routes, found from this file so
// that tests in any package read the same files.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "routes")
}

// Read returns the file testdata/routes/name, or fails the test.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Seed adds the files of testdata/routes that match glob to a fuzzer's
// corpus.
func Seed(f *testing.F, glob string) {
	paths, _ := filepath.Glob(filepath.Join(dir(), glob))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
}

// Check fails the test for a route with an invalid or unspecified
// gateway, a zone on a gateway that is not link-local, a negative metric,
// or an unsanitised string.
func Check(t *testing.T, routes []osdetect.DefaultRoute) {
	t.Helper()
	for _, r := range routes {
		if !r.Gateway.IsValid() || r.Gateway.IsUnspecified() {
			t.Errorf("route %+v: bad gateway", r)
		}
		if z := r.Gateway.Zone(); z != "" && !r.Gateway.IsLinkLocalUnicast() {
			t.Errorf("route %+v: zone on a non-link-local gateway", r)
		}
		if r.Metric < 0 {
			t.Errorf("route %+v: negative metric", r)
		}
		for _, s := range []string{r.Interface, r.MAC, r.Gateway.Zone()} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 || strings.ContainsAny(s, "\x00\n\r\t") {
				t.Errorf("route %+v: unsanitised string %q", r, s)
			}
		}
	}
}
