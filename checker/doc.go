// Package checker is vmcheck's engine: it lists a host's domains through
// a model.Source, keeps the ones the settings select and their policy
// enables (Checker.Select), and checks each from inside the guest through
// its agent (Checker.Check): discovery (discover.go: agent, OS, NIC
// addresses, gateways and routes), the probes (probe.go, methods.go:
// pings and the policy's probe methods), the verdict (verdict.go) and,
// for a check that was not ok, the diagnosis (package checker/diagnose).
// Every Result passes one choke point (untrusted.go) before it leaves;
// what a check learned of a boot is kept for the next ones (package
// checker/bootcache).
//
// It knows its inputs and outputs as package model's data, its settings
// as a settings.Config, and a backend only through the settings.Backend
// seam.
package checker
