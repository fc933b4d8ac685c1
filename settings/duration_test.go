package settings

import (
	"testing"
	"time"
)

// TestConfigDurations pins the one duration parser of the config file and
// its messages: each names its line and key path.
func TestConfigDurations(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		timeout time.Duration
	}{
		{"timeout", "timeout: 45s", "", 45 * time.Second},
		{"empty timeout is unset", `timeout: ""`, "", 0},
		{"bad timeout", "timeout: soon", `line 1: timeout: "soon" is not a duration such as "30s"`, 0},
		{"bad ping_timeout", "ping_timeout: 2", `line 1: ping_timeout: "2" is not a duration such as "30s"`, 0},
		{"policy interval", "policies:\n  - match: web-*\n    interval: 5m", "", 0},
		{"bad policy interval", "policies:\n  - match: web-*\n    interval: soon", `line 3: policies[0].interval: "soon" is not a duration such as "30s"`, 0},
		{"empty policy interval", "policies:\n  - match: web-*\n    interval: \"\"", `line 3: policies[0].interval: "" is not a duration such as "30s"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseConfig(%q) error = %v, want %q", tt.yaml, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%q): %v", tt.yaml, err)
			}
			if time.Duration(cfg.Timeout) != tt.timeout {
				t.Errorf("ParseConfig(%q).Timeout = %s, want %s", tt.yaml, time.Duration(cfg.Timeout), tt.timeout)
			}
		})
	}
}
