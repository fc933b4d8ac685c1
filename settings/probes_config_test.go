package settings

import (
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/policy"
)

// The config of issue 18, accepted as written.
const issueProbesConfig = `external: [203.0.113.1]
policies:
  - match: "web-*"
    probes:
      - {method: icmp, count: 10, max_loss: 0.2, max_rtt: 900ms}
      - {method: mtu}
      - {method: dns, name: www.example.test}
      - {method: tcp, target: "203.0.113.1:80"}
      - {method: http, url: "http://203.0.113.1/"}
`

func TestPolicyProbes(t *testing.T) {
	cfg, err := ParseConfig([]byte(issueProbesConfig))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.PolicyFor("web-1", "", policy.Policy{})
	if len(p.Probes) != 5 {
		t.Fatalf("web-1 has %d probes, want 5", len(p.Probes))
	}
	icmp := p.ICMP()
	if icmp.Count != 10 || *icmp.MaxLoss != 0.2 || icmp.MaxRTT.String() != "900ms" || icmp.WarnAt != 0.8 {
		t.Errorf("icmp spec = %+v", icmp)
	}
	if http := p.Probes[4]; http.Status != "2xx" {
		t.Errorf("http status default = %q, want 2xx", http.Status)
	}
	if d := cfg.PolicyFor("db-1", "", policy.Policy{}); len(d.Probes) != 0 || d.ICMP().Count != 1 {
		t.Errorf("db-1 policy = %+v, want the default single echo", d)
	}
}

func TestPolicyProbesErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"policies:\n  - match: a\n    probes:\n      - {method: icmp, count: 50}\n", "line 4: count: 50 is not between 1 and 20"},
		{"policies:\n  - match: a\n    probes:\n      - method: tcp\n        target: \"203.0.113.1:0\"\n", "line 4: target: \"203.0.113.1:0\": port \"0\" is not between 1 and 65535"},
		{"policies:\n  - match: a\n    probes:\n      - {method: dns, name: -x.example}\n", "line 4: name: \"-x.example\" is not a host name"},
		{"policies:\n  - match: a\n    probes:\n      - {method: http, url: \"http://u:p@203.0.113.1/\"}\n", "has credentials"},
		{"policies:\n  - match: a\n    probes:\n      - {method: icmp, max_rtt: -1s}\n", "line 4: max_rtt: -1s is not between"},
		{"policies:\n  - match: a\n    probes:\n      - {method: icmp, counts: 3}\n", "line 4: unknown key \"counts\""},
		{"policies:\n  - match: a\n    probes:\n      - {method: dns, name: a.test, count: 3}\n", "line 4: count: not a key of the dns method"},
		{"policies:\n  - match: a\n    probes:\n      - {method: ntp}\n", "line 4: method: \"ntp\" is not one of dns, http, icmp, mtu, tcp"},
		{"policies:\n  - match: a\n    probes: [{method: mtu}, {method: mtu}]\n", "probes[1].method: a second mtu probe"},
		{"policies:\n  - match: a\n    probes: [" + strings.Repeat("{method: dns, name: a.test},", 9) + "]\n", "probes: 9 probes, at most 8 allowed"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error containing %q", tt.yaml, err, tt.want)
		}
	}
}
