package osdetect_test

import (
	"net/netip"
	"testing"

	"github.com/vmcheck/vmcheck/osdetect"
)

func TestValidatePingTarget(t *testing.T) {
	tests := []struct {
		name    string
		target  string // "": the zero Addr
		wantErr string // "": valid
	}{
		{"v4", "192.0.2.1", ""},
		{"v6", "2001:db8::1", ""},
		{"link-local with interface", "fe80::1%eth0", ""},
		{"link-local with index", "fe80::1%6", ""},
		// Judged as given: PingCommand adds the zone rule and unmapping.
		{"link-local without zone", "fe80::1", ""},
		{"mapped unspecified", "::ffff:0.0.0.0", ""},
		{"invalid", "", "not a valid IP address"},
		{"unspecified", "0.0.0.0", "0.0.0.0 is the unspecified address"},
		{"unspecified v6", "::", ":: is the unspecified address"},
		{"multicast", "224.0.0.1", "224.0.0.1 is a multicast address"},
		{"multicast v6", "ff02::1", "ff02::1 is a multicast address"},
		{"multicast with zone", "ff02::1%eth0", "ff02::1%eth0 is a multicast address"},
		{"broadcast", "255.255.255.255", "255.255.255.255 is the broadcast address"},
		{"zone on global", "2001:db8::1%eth0", "2001:db8::1%eth0 has a zone; use an address without %zone"},
		{"bad zone", "fe80::1%eth0 -f", `zone "eth0 -f" of fe80::1 is not an interface name or index`},
		{"long zone", "fe80::1%abcdefghijklmnop", `zone "abcdefghijklmnop" of fe80::1 is not an interface name or index`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a netip.Addr
			if tt.target != "" {
				a = netip.MustParseAddr(tt.target)
			}
			err := osdetect.ValidatePingTarget(a)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidatePingTarget(%s) = %v, want nil", tt.target, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("ValidatePingTarget(%s) = %v, want %q", tt.target, err, tt.wantErr)
			}
		})
	}
}

// Every address PingCommand accepts passes ValidatePingTarget once unmapped:
// there is one rule, and PingCommand only adds the zone a link-local
// target needs.
func FuzzValidatePingTarget(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:0.0.0.0", "fe80::1%eth0", "fe80::1", "ff02::1", "2001:db8::1%x", "255.255.255.255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		verr := osdetect.ValidatePingTarget(a.Unmap())
		_, perr := osdetect.PingCommand(osdetect.Linux, a, 0)
		if perr == nil && verr != nil {
			t.Errorf("PingCommand(%s) accepts what ValidatePingTarget rejects: %v", a, verr)
		}
		needsZone := a.Unmap().Is6() && a.Unmap().IsLinkLocalUnicast() && a.Unmap().Zone() == ""
		if perr != nil && verr == nil && !needsZone {
			t.Errorf("PingCommand(%s) = %v, ValidatePingTarget accepts it", a, perr)
		}
	})
}
