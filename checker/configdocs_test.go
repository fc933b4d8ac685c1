package checker

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// configKeys returns the YAML key paths of a config struct type, the way
// the docs write them: "timeout", "networks.<name>.type",
// "policies[].match". It descends into lists and maps of structs with
// yaml-tagged fields; other types (netip.Addr, Duration) are values.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		keys = append(keys, key)
		ft := f.Type
		switch ft.Kind() {
		case reflect.Slice:
			ft, key = ft.Elem(), key+"[]."
		case reflect.Map:
			ft, key = ft.Elem(), key+".<name>."
		default:
			ft, key = nil, ""
		}
		if ft != nil && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft != nil && ft.Kind() == reflect.Struct && hasYAMLFields(ft) {
			keys = append(keys, configKeys(ft, key)...)
		}
	}
	return keys
}

func hasYAMLFields(t reflect.Type) bool {
	for f := range t.Fields() {
		if f.Tag.Get("yaml") != "" {
			return true
		}
	}
	return false
}

// TestDocsMentionEveryConfigKey fails when a key of the config file has
// no line in README.md or docs/*.md naming it, in backquotes, by its full
// path (`qemu_vms[].id`, or `qemu_vms:` as YAML).
func TestDocsMentionEveryConfigKey(t *testing.T) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var docs strings.Builder
	for _, f := range append([]string{"../README.md"}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	keys := configKeys(reflect.TypeFor[rawConfig](), "")
	for _, want := range []string{"connect", "networks.<name>.type", "policies[].match", "qemu_vms[].qmp"} {
		if !slices.Contains(keys, want) {
			t.Fatalf("configKeys(rawConfig) = %q, lacks %q", keys, want)
		}
	}
	for _, k := range keys {
		if !strings.Contains(docs.String(), "`"+k+"`") && !strings.Contains(docs.String(), "`"+k+":`") {
			t.Errorf("config key %s: no line in README.md or docs/*.md names `%s`", k, k)
		}
	}
}
