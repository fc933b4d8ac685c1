package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/checker"
	"github.com/vmcheck/vmcheck/config"
)

// TestDocsMentionEveryConfigKey fails when a key of the config file has
// no line in README.md or docs/*.md naming it, in backquotes, by its full
// path (`qemu_vms[].id`, or `qemu_vms:` as YAML).
func TestDocsMentionEveryConfigKey(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var docs strings.Builder
	for _, f := range append([]string{"../../README.md"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	keys := config.Paths(reflect.TypeFor[checker.Config]())
	for _, s := range config.Sections() {
		keys = append(keys, s.Paths...)
	}
	for _, want := range []string{"connect", "networks.<name>.type", "policies[].match", "qemu_vms[].qmp"} {
		if !slices.Contains(keys, want) {
			t.Fatalf("config.Paths(checker.Config) and the sections = %q, lack %q", keys, want)
		}
	}
	for _, k := range keys {
		if !strings.Contains(docs.String(), "`"+k+"`") && !strings.Contains(docs.String(), "`"+k+":`") {
			t.Errorf("config key %s: no line in README.md or docs/*.md names `%s`", k, k)
		}
	}
}
