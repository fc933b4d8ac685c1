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
// Two Transports reach real agents. libvirthost.Pool (package libvirthost,
// behind cgo) sends each request with virDomainQemuAgentCommand on a
// connection of its own and builds its errors from this package's sentinels
// and NewError. agentsocket.Socket (package guestagent/agentsocket) speaks
// to an agent's unix socket directly, for hosts without libvirt (plain
// QEMU, Proxmox VE): it resynchronises every new connection with
// guest-sync-delimited, keeps one command in flight and bounds every read
// and write by the context; it builds its errors with WrapSentinel. Tests
// use a TransportFunc closure or guestagent/agenttest.Replay with replies
// captured from a real agent.
package guestagent
