package checker_test

import (
	// The backends register themselves when imported: this file links
	// both into checker's tests, so the engine's tests run with the
	// registry (and the config sections) a vmcheck binary has.
	_ "github.com/vmcheck/vmcheck/libvirthost"
	_ "github.com/vmcheck/vmcheck/qemuhost"
)
