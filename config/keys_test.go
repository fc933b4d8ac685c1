package config

import "testing"

func TestNearest(t *testing.T) {
	cands := []string{"check", "domains", "cron", "serve"}
	for word, want := range map[string]string{"chek": "check", "domain": "domains", "srve": "serve", "xyzzy": ""} {
		if got := Nearest(word, cands); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
}
