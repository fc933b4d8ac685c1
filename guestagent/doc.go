// Package guestagent speaks the QEMU guest agent protocol (QGA) to one
// guest over a single seam, Transport, which carries one JSON request to the
// agent and returns its raw reply.
//
// Client turns the protocol into typed calls: guest-ping, guest-info,
// guest-get-osinfo, guest-network-get-interfaces, guest-network-get-route,
// the guest-file-* read loop and guest-exec / guest-exec-status. Everything
// the guest says is untrusted: every decoder caps and sanitises what it
// returns and rejects malformed values with an error naming the field.
//
// LibvirtPool (libvirt.go, the package's only cgo file) is the production
// Transport: it sends each request with virDomainQemuAgentCommand on a
// connection of its own. Tests use a TransportFunc closure or
// guestagent/agenttest.Replay with replies captured from a real agent.
package guestagent
