// Package model is the data that flows through vmcheck, with no behaviour
// beyond its own bounds: what a backend reports of a VM (Domain, its NICs
// and their host side, lifecycle Events, a Source that lists them) and
// what a check finds (Result: the VM's state, agent, NICs, probes and the
// Diagnosis of a check that was not ok, its codes a closed set in Codes).
//
// Backends (libvirthost, qemuhost) fill it in, the engine (package
// checker) reads a Domain and writes a Result, and the outputs (output,
// the exporter) print Results. It imports no vmcheck package but the
// ones its fields are typed with (policy, guestagent, probe) and
// osdetect, whose address rules ValidateExpected applies.
package model
