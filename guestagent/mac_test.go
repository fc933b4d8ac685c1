package guestagent_test

import (
	"strings"
	"testing"

	"github.com/vmcheck/vmcheck/guestagent"
)

func TestNormalMAC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "": not a MAC
	}{
		{"canonical", "52:54:00:0c:00:13", "52:54:00:0c:00:13"},
		{"upper case", "52:54:00:0C:00:AB", "52:54:00:0c:00:ab"},
		{"hyphens", "52-54-00-0C-00-13", "52:54:00:0c:00:13"},
		{"cisco dots", "5254.000c.0013", "52:54:00:0c:00:13"},
		{"eui-64", "02:00:5e:10:00:00:00:01", ""},
		{"ipoib", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", ""},
		{"blanks", " 52:54:00:0c:00:13", ""},
		{"short", "52:54:00:0c:00", ""},
		{"not hex", "52:54:00:0c:00:zz", ""},
		{"empty", "", ""},
		{"long", strings.Repeat("52:", 1<<16), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := guestagent.NormalMAC(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("NormalMAC(%.40q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
			}
		})
	}
}
