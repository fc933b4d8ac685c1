package qemuhost

// The tests check Linux and Windows guests: link their families in, as
// cmd/vmcheck does.
import _ "github.com/vmcheck/vmcheck/osdetect/families"
