//go:build cgo

package main

import (
	"context"
	"fmt"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/libvirthost"
)

// debianAgent returns a guest agent client of lab-debian over the same
// libvirt binding vmcheck uses.
func debianAgent(ctx context.Context, lab *Lab) (*guestagent.Client, func(), error) {
	src, err := libvirthost.New(ctx, lab.URI, 2)
	if err != nil {
		return nil, nil, err
	}
	doms, err := src.Domains(ctx)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	for _, d := range doms {
		if d.Name == guests8[0] {
			return guestagent.New(d.Agent), func() { src.Close() }, nil
		}
	}
	src.Close()
	return nil, nil, fmt.Errorf("no domain %s in the lab", guests8[0])
}
