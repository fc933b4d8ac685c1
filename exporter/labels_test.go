package exporter

import (
	"strings"
	"testing"
)

func TestGuestLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"debian", "debian"},
		{"10.0.20348", "10.0.20348"},
		{"22.04.3 LTS (Jammy)", "22.04.3_LTS__Jammy_"},
		{"ubuntu\"} 1\nfake{a=\"b", "ubuntu___1_fake_a__b"},
		{"x\u202eevil\u0000", "x_evil"},
		{string([]byte{0xff, 'a'}), "_a"},
		{"é", "_"},
		{"a\nb", "a_b"},
		{string(make([]byte, 200)), ""},
	}
	for _, tt := range tests {
		if got := guestLabel(tt.in); got != tt.want {
			t.Errorf("guestLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := guestLabel(strings.Repeat("a", 100))
	if n := len([]rune(long)); n > maxLabelRunes {
		t.Errorf("guestLabel of 100 runes has %d runes, want at most %d", n, maxLabelRunes)
	}
}

func TestHostLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-01 (shop)", "web-01 (shop)"},
		{"café", "café"},
		{"a\x1bb", "a b"},
		{"a\u202eb", "a b"},
		{string([]byte{0xff}), "\ufffd"},
	}
	for _, tt := range tests {
		if got := hostLabel(tt.in, 64); got != tt.want {
			t.Errorf("hostLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAddrMACUUIDLabels(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "2001:DB8::1": "2001:db8::1", "fe80::1%eth0": "fe80::1",
		"::ffff:192.0.2.1": "::ffff:192.0.2.1", "192.0.2.1 ": "", "host": "", "": "",
	} {
		if got := addrLabel(in); got != want {
			t.Errorf("addrLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"52:54:00:AA:00:01": "52:54:00:aa:00:01", "52-54-00-aa-00-01": "52:54:00:aa:00:01",
		"not-a-mac": "", "": "", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01": "",
	} {
		if got := macLabel(in); got != want {
			t.Errorf("macLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"0B4EC1C4-5D3A-4C5E-9B1E-2F4A6C8E0A05": "0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a05",
		"0b4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a0":  "",
		"0b4ec1c4x5d3a-4c5e-9b1e-2f4a6c8e0a05": "",
		"zb4ec1c4-5d3a-4c5e-9b1e-2f4a6c8e0a05": "",
	} {
		if got := uuidLabel(in); got != want {
			t.Errorf("uuidLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if got := enumLabel("gateway", "external", "gateway"); got != "gateway" {
		t.Errorf("enumLabel = %q", got)
	}
	if got := enumLabel("weird", "external", "gateway"); got != "other" {
		t.Errorf("enumLabel = %q, want other", got)
	}
}
