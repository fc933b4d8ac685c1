package guestagent

import "net"

// NormalMAC returns s, a 48-bit Ethernet MAC address, in the one form
// vmcheck keeps and compares MACs in: lower-case hex pairs separated by
// colons ("52:54:00:0c:00:13"). s may be in any notation net.ParseMAC
// reads: colons or hyphens, either case, or Cisco's dotted groups
// ("5254.000c.0013"). Anything else, including 64-bit and 20-octet
// hardware addresses and surrounding blanks, gives "" and false.
//
// Two MACs name the same NIC exactly when their normal forms are equal.
func NormalMAC(s string) (string, bool) {
	if len(s) > 64 { // no MAC is longer; a guest's string may be
		return "", false
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", false
	}
	return hw.String(), true
}
