package main

// The host backends this vmcheck speaks: each package registers itself
// (settings.RegisterBackend) when imported, with its settings, flags,
// listing and remedies. A new backend is its package and one line here.
import (
	_ "github.com/vmcheck/vmcheck/libvirthost"
	_ "github.com/vmcheck/vmcheck/qemuhost"
)
