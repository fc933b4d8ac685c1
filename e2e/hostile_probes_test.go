//go:build e2e

package e2e

import "testing"

// TestHostileCheckProbes is TestHostileCheck with every probe method in
// the policy (--probe): the hostile agents answer the methods' guest
// commands (getent, curl, cat of an MTU, don't-fragment pings) with the
// same bombs, floods and stalls, and the bounds stay those of the default
// check: each domain within its deadline, peak RSS under the limit, the
// honest neighbour ok with every method, nothing unsanitised in the
// output.
func TestHostileCheckProbes(t *testing.T) {
	probes := []string{"--probe", "icmp,count=5", "--probe", "mtu", "--probe", "dns,name=www.example.test",
		"--probe", "tcp,target=" + external4 + ":80", "--probe", "http,url=http://" + external4 + "/"}
	hostileCheck(t, append([]string{"-c", labURI}, probes...), hostileRounds, "lab-debian", hostileLab)
}
