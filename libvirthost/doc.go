// Package libvirthost is vmcheck's backend for libvirt hosts: everything
// that speaks libvirt lives here, so the engine (package checker) and the
// guest agent protocol (package guestagent) build and test without it.
//
// Source (source.go) is the model.Source of a libvirt host: it lists the
// running domains from their live XML and reports their lifecycle events
// (Watch, events.go). Pool (agent.go) is the guestagent.Transport that
// reaches each guest agent with virDomainQemuAgentCommand, on a connection
// per call. These files use cgo and are built only with it. The parsers of
// libvirt's XML are plain Go, build everywhere and live in package
// libvirthost/domainxml; they fill the backend-neutral types of packages
// model and policy (Domain, NIC, Nova; Policy).
//
// Backend (backend.go) is what the engine and the CLI know of libvirt: the
// package registers it with settings.RegisterBackend when imported; built
// without cgo, its Open says that this vmcheck has no libvirt.
package libvirthost
