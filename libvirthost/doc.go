// Package libvirthost is vmcheck's backend for libvirt hosts: everything
// that speaks libvirt lives here, so the engine and the guest agent
// protocol (package guestagent) build and test without it.
//
// Pool (agent.go) is the guestagent.Transport that reaches each guest
// agent with virDomainQemuAgentCommand, a connection per call. It uses cgo
// and is built only with it.
package libvirthost
