package settings

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/vmcheck/vmcheck/config"
	"github.com/vmcheck/vmcheck/guestagent"
)

// DefaultConfigFile is the config file the CLI reads when it is present
// and --config is not given: the one the packages install.
const DefaultConfigFile = "/etc/vmcheck/vmcheck.yml"

// LoadConfig reads and validates a YAML config file (ParseConfig). Its
// errors name the file, then the line and key: "config FILE: line 3:
// timeout: must be positive, got 0s".
func LoadConfig(file string) (Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", file, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML config with package config: the engine's keys
// into Config's yaml-tagged fields, a registered section's keys into
// Config.Sections. It rejects unknown keys (each named with its line and
// the nearest valid key) and validates the result (Config.Validate);
// every error names its line and key, never a Go type. A value written
// but zero (timeout: 0s, concurrency: 0) is an error, not the default.
// Defaults are not applied; see Config.WithDefaults.
func ParseConfig(b []byte) (Config, error) {
	var cfg Config
	doc, err := config.Decode(b, &cfg, &cfg.Sections)
	if err != nil {
		return Config{}, err
	}
	for _, n := range []struct {
		key string
		v   int
		max int
	}{{"concurrency", cfg.Concurrency, MaxConcurrency}, {"agent_calls", cfg.AgentCalls, MaxAgentCalls}} {
		if n.v == 0 && doc.Has(n.key) {
			return Config{}, doc.Locate(config.Errorf(n.key, "must be between 1 and %d, got 0", n.max))
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, doc.Locate(err)
	}
	return cfg, nil
}

// NICsByMAC is the config file's nics: the operator's word on single
// NICs, keyed by MAC in guestagent.NormalMAC form.
type NICsByMAC map[string]NICConfig

// UnmarshalConfig decodes the nics mapping: each key a MAC address, in
// any spelling guestagent.NormalMAC accepts, each MAC once; every key that
// is not, or repeats one, is an error naming its line.
func (m *NICsByMAC) UnmarshalConfig(n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return config.NotA(n, path, "a mapping of names to values")
	}
	seen := map[string]int{}
	out := make(NICsByMAC, len(n.Content)/2)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		mac, ok := guestagent.NormalMAC(key.Value)
		switch {
		case !ok:
			errs = append(errs, &config.Error{Line: key.Line, Path: path, Err: fmt.Errorf("%q is not a MAC address such as 52:54:00:0c:00:11", config.Shorten(key.Value))})
		case seen[mac] != 0:
			errs = append(errs, &config.Error{Line: key.Line, Path: path, Err: fmt.Errorf("%s is already listed on line %d", mac, seen[mac])})
		default:
			seen[mac] = key.Line
			var nic NICConfig
			errs = append(errs, config.DecodeNode(n.Content[i+1], config.Join(path, key.Value), &nic))
			out[mac] = nic
		}
	}
	if err := config.List(errs...); err != nil {
		return err
	}
	if len(out) > 0 {
		*m = out
	}
	return nil
}
