package osdetect

import (
	"bytes"
	"testing"
)

// TestTooLong: a table that fills the bytes read or the lines parsed is
// reported as possibly cut.
func TestTooLong(t *testing.T) {
	tests := []struct {
		name  string
		table []byte
		want  bool
	}{
		{"small", []byte("Iface\tDestination\n"), false},
		{"lines", bytes.Repeat([]byte("x\n"), MaxRouteLines), true},
		{"bytes", bytes.Repeat([]byte("x"), RouteOutputLimit), true},
	}
	for _, tt := range tests {
		if got := TooLong(tt.table); got != tt.want {
			t.Errorf("tooLong(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
