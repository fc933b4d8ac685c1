package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/settings"
)

// conffile is the commented /etc/vmcheck/vmcheck.yml the packages ship.
const conffile = "../../deploy/vmcheck.yml"

// conffileBlocks returns the commented-out settings of the conffile by key:
// a "#key: …" line and the "#  …" lines below it, uncommented.
func conffileBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(conffile)
	if err != nil {
		t.Fatal(err)
	}
	keyRE := regexp.MustCompile(`^#([a-z_]+):`)
	blocks := map[string]string{}
	key := ""
	for _, line := range strings.Split(string(b), "\n") {
		switch m := keyRE.FindStringSubmatch(line); {
		case m != nil:
			key = m[1]
			if _, dup := blocks[key]; dup {
				t.Errorf("%s: key %s shown twice", conffile, key)
			}
			blocks[key] = line[1:] + "\n"
		case key != "" && strings.HasPrefix(line, "#  "):
			blocks[key] += line[1:] + "\n"
		default:
			key = ""
		}
	}
	return blocks
}

// TestConffileParses: the shipped file, all commented out, is a valid
// (empty) config, so the units' --config works right after installation.
func TestConffileParses(t *testing.T) {
	b, err := os.ReadFile(conffile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.ParseConfig(b)
	if err != nil {
		t.Fatalf("%s: %v", conffile, err)
	}
	if !reflect.DeepEqual(cfg, settings.Config{}) {
		t.Errorf("%s sets %+v, want nothing set", conffile, cfg)
	}
}

// topLevelKeys returns every top-level key of the config file: the
// engine's (settings.Config's yaml tags) and those of every section the
// packages linked into vmcheck registered.
func topLevelKeys() []string {
	var keys []string
	for f := range reflect.TypeFor[settings.Config]().Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	for _, s := range config.Sections() {
		keys = append(keys, s.Keys...)
	}
	return keys
}

// TestConffileShowsEveryKey: every top-level config key is in the conffile,
// commented out, and each one uncommented on its own is a valid config;
// the defaults it shows are the real ones.
func TestConffileShowsEveryKey(t *testing.T) {
	blocks := conffileBlocks(t)
	want := topLevelKeys()
	var got []string
	for k := range blocks {
		got = append(got, k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s shows keys %v, want %v", conffile, got, want)
	}
	for key, block := range blocks {
		cfg, err := settings.ParseConfig([]byte(block))
		if err != nil {
			t.Errorf("%s: %s uncommented does not parse: %v\n%s", conffile, key, err, block)
			continue
		}
		switch key {
		case "timeout":
			if time.Duration(cfg.Timeout) != settings.DefaultTimeout {
				t.Errorf("%s shows timeout %v, default is %v", conffile, time.Duration(cfg.Timeout), settings.DefaultTimeout)
			}
		case "ping_timeout":
			if time.Duration(cfg.PingTimeout) != settings.DefaultPingTimeout {
				t.Errorf("%s shows ping_timeout %v, default is %v", conffile, time.Duration(cfg.PingTimeout), settings.DefaultPingTimeout)
			}
		case "concurrency":
			if cfg.Concurrency != settings.DefaultConcurrency {
				t.Errorf("%s shows concurrency %d, default is %d", conffile, cfg.Concurrency, settings.DefaultConcurrency)
			}
		}
	}
}
