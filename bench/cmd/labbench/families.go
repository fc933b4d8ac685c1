package main

// The OS families the bench's checks read: the program is assembled here.
import _ "github.com/vmcheck/vmcheck/osdetect/families"
