package guestagent_test

import (
	"encoding/json"
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
			mac, ok := guestagent.ParseMAC(tt.in)
			if mac.String() != tt.want || ok != (tt.want != "") || mac.Valid() != ok {
				t.Errorf("ParseMAC(%.40q) = %q, %v (valid %v); want %q", tt.in, mac, ok, mac.Valid(), tt.want)
			}
			if conv := guestagent.MAC(tt.in); conv.Valid() != (tt.in == tt.want && ok) {
				t.Errorf("MAC(%.40q).Valid() = %v", tt.in, conv.Valid())
			}
		})
	}
}

// TestMACJSON: a MAC is its canonical string in JSON, the zero MAC omitted
// by omitempty, and reads back as it was written.
func TestMACJSON(t *testing.T) {
	type row struct {
		NIC guestagent.MAC `json:"nic,omitempty"`
	}
	mac, _ := guestagent.ParseMAC("52-54-00-0C-00-13")
	for _, tt := range []struct {
		in   row
		want string
	}{
		{row{}, `{}`},
		{row{NIC: mac}, `{"nic":"52:54:00:0c:00:13"}`},
	} {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
		var back row
		if err := json.Unmarshal(b, &back); err != nil || back != tt.in {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.in)
		}
	}
}
