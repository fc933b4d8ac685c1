package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/settings"
)

// TestDocsMentionEveryConfigKey fails when a key of the config file has
// no line in README.md or docs/*.md naming it, in backquotes, by its full
// path (`qemu_vms[].id`, or `qemu_vms:` as YAML).
func TestDocsMentionEveryConfigKey(t *testing.T) {
	docs := readDocs(t)
	keys := config.Paths(reflect.TypeFor[settings.Config]())
	for _, s := range config.Sections() {
		keys = append(keys, s.Paths...)
	}
	for _, want := range []string{"connect", "networks.<name>.type", "policies[].match", "qemu_vms[].qmp"} {
		if !slices.Contains(keys, want) {
			t.Fatalf("config.Paths(settings.Config) and the sections = %q, lack %q", keys, want)
		}
	}
	for _, k := range keys {
		if !strings.Contains(docs, "`"+k+"`") && !strings.Contains(docs, "`"+k+":`") {
			t.Errorf("config key %s: no line in README.md or docs/*.md names `%s`", k, k)
		}
	}
}
