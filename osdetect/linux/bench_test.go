package linux_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmcheck/vmcheck/osdetect/linux"
)

// BenchmarkParseProcNetRoute parses the captured /proc/net/route.
func BenchmarkParseProcNetRoute(b *testing.B) {
	v4, err := os.ReadFile(filepath.Join("..", "..", "testdata", "routes", "linux-proc-net-route.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := linux.ParseProcNetRoute(v4); err != nil {
			b.Fatal(err)
		}
	}
}
