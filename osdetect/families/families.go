// Package families links every OS family vmcheck knows into the program:
// a blank import of it registers them with osdetect. cmd/vmcheck imports
// it, and so do the tests of packages that run checks. A new family is a
// new package under osdetect and one line here.
package families

import (
	_ "github.com/vmcheck/vmcheck/osdetect/linux"   // Linux guests
	_ "github.com/vmcheck/vmcheck/osdetect/windows" // Windows guests
)
