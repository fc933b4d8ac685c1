package guestagent

import "net"

// MAC is a 48-bit Ethernet MAC address in the one form vmcheck keeps and
// compares MACs in: lower-case hex pairs separated by colons
// ("52:54:00:0c:00:13"). The zero MAC ("") means none. Make one with
// ParseMAC at the edge where a MAC enters (a domain definition, a guest
// reply); its JSON and text form is that string, so an omitempty field
// omits the zero MAC.
type MAC string

// ParseMAC returns s as a MAC. s may be in any notation net.ParseMAC
// reads: colons or hyphens, either case, or Cisco's dotted groups
// ("5254.000c.0013"). Anything else, including 64-bit and 20-octet
// hardware addresses and surrounding blanks, gives the zero MAC and false.
//
// Two MACs name the same NIC exactly when their parsed forms are equal.
func ParseMAC(s string) (MAC, bool) {
	if len(s) > 64 { // no MAC is longer; a guest's string may be
		return "", false
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", false
	}
	return MAC(hw.String()), true
}

// NormalMAC is ParseMAC's result as a plain string, for the places that
// key or compare MACs as text (configuration keys, guest evidence).
func NormalMAC(s string) (string, bool) {
	m, ok := ParseMAC(s)
	return string(m), ok
}

// String returns the MAC in its canonical form, "" for none.
func (m MAC) String() string { return string(m) }

// Valid reports whether m is in canonical form: six lower-case hex pairs
// separated by colons, as ParseMAC makes it. A MAC made by a plain
// conversion (a struct literal, a state file read back) may not be;
// formatters that must not pass anything else on check it here rather
// than parse it again.
func (m MAC) Valid() bool {
	if len(m) != 17 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case i%3 == 2:
			if c != ':' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f'):
			return false
		}
	}
	return true
}
