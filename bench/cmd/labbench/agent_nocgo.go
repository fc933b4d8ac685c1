//go:build !cgo

package main

import (
	"context"
	"errors"

	"github.com/vmcheck/vmcheck/guestagent"
)

// debianAgent needs the libvirt backend, which needs cgo: a build without
// it still compiles (CGO_ENABLED=0 go build ./...) but cannot measure the
// lab.
func debianAgent(context.Context, *Lab) (*guestagent.Client, func(), error) {
	return nil, nil, errors.New("labbench was built without cgo: the lab benchmarks need the libvirt backend")
}
