package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration; in YAML it is written as "2s" or "1m30s".
type Duration time.Duration

// UnmarshalConfig decodes a Go duration string such as "30s". A top-level
// duration (timeout, ping_timeout, retry_interval) is a setting: written
// empty it is unset (its flag's default), written otherwise it must be
// positive. A duration inside an entry (a policy's interval) must be a
// duration; its bounds are the entry's. Every error names its line and
// key path.
func (d *Duration) UnmarshalConfig(n *yaml.Node, path string) error {
	topLevel := !strings.ContainsAny(path, ".[")
	if n.Kind != yaml.ScalarNode {
		return NotA(n, path, "a duration such as \"30s\"")
	}
	if topLevel && n.Value == "" {
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a duration such as \"30s\"", n.Value)
	case topLevel && v <= 0:
		return fmt.Errorf("must be positive, got %s", n.Value)
	}
	*d = Duration(v)
	return nil
}
