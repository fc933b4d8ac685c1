// Package domainxml holds the parsers of libvirt's XML for the libvirt
// backend (package libvirthost): domain and network definitions
// (domainxml.go), vmcheck's and Nova's elements of a domain's <metadata>
// (metadata.go), and a NIC's host side as the definition describes it
// (hostside.go, for package hostnic). They are plain Go (no cgo, no
// libvirt connection), build everywhere, cap and sanitise what they read,
// and fill the backend-neutral types of packages model and policy
// (Domain, NIC, Nova; Policy).
package domainxml
