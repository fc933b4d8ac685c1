package main

// The OS families vmcheck knows: the program is assembled here, so the
// engine (checker, probe) and osdetect stay free of any one family.
import _ "github.com/vmcheck/vmcheck/osdetect/families"
