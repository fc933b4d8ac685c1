// Package settings is what vmcheck runs with and which backend it runs
// on: Config (the config file's engine keys, then the flags on top,
// validated: LoadConfig, ParseConfig; a backend's own keys are a section
// of it, package config) and the backend seam.
//
// A backend is a package that implements Backend
// and registers itself from its init (RegisterBackend): its options, the
// settings that select it, its listing and agent transport (Open, a
// Conn), its remedies and its skip reasons. Config.Host returns the
// backend a Config selects. The engine (package checker), the outputs
// and the CLI know a backend only through this package, which names
// none.
package settings
