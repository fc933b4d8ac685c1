//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"libvirt.org/go/libvirt"

	"github.com/vmcheck/vmcheck/hostnic"
	"github.com/vmcheck/vmcheck/libvirthost/domainxml"
	"github.com/vmcheck/vmcheck/model"
)

// Source is the model.Source of a libvirt host: it lists the running
// domains and reaches their guest agents through a Pool of connections.
type Source struct {
	uri  string
	conn *libvirt.Connect
	pool *Pool
	// host says where NICs' host sides are read (SetOVSDB).
	host hostnic.Options
	// remote: the URI names another machine, whose NICs' host sides
	// vmcheck cannot read from here.
	remote bool
}

var _ model.Source = (*Source)(nil)

// New connects to uri (read-write: agent commands need it).
// poolSize bounds the idle agent connections kept between calls; use the
// check concurrency. When ctx ends before libvirt answers it returns an
// error at once, and closes the connection if it arrives later.
func New(ctx context.Context, uri string, poolSize int) (*Source, error) {
	conn, err := callCtx(ctx, func() (*libvirt.Connect, error) { return libvirt.NewConnect(uri) }, closeConn)
	if err != nil {
		return nil, plainFailure("connecting to", uri, err)
	}
	return &Source{uri: uri, conn: conn, pool: NewPool(uri, poolSize), remote: remoteURI(uri)}, nil
}

// SetOVSDB sets the Open vSwitch database the host-side reads of Open
// vSwitch and vhost-user NICs use ("" means hostnic.DefaultOVSDB). Call it
// before the first listing.
func (s *Source) SetOVSDB(remote string) { s.host.OVSDB = remote }

// URI returns the libvirt URI of the source.
func (s *Source) URI() string { return s.uri }

// Close closes the discovery connection and the agent pool.
func (s *Source) Close() error {
	_, err := s.conn.Close()
	return errors.Join(err, s.pool.Close())
}

// Domains lists active domains with their NICs and agent channel state, read
// from the live XML. It makes no agent call. When ctx ends first it returns
// at once; the abandoned listing holds a reference of its own on the
// connection, so a Close that follows frees the connection only once that
// listing has finished with it.
func (s *Source) Domains(ctx context.Context) ([]model.Domain, error) {
	if err := s.conn.Ref(); err != nil {
		return nil, plainFailure("listing the domains of", s.uri, err)
	}
	doms, err := callCtx(ctx, func() ([]model.Domain, error) {
		defer closeConn(s.conn)
		return s.domains()
	}, nil)
	if err != nil {
		return nil, plainFailure("listing the domains of", s.uri, err)
	}
	return doms, nil
}

func (s *Source) domains() ([]model.Domain, error) {
	doms, err := s.conn.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer func() {
		for i := range doms {
			_ = doms[i].Free()
		}
	}()
	nets := map[string]domainxml.Network{}
	out := make([]model.Domain, 0, len(doms))
	for i := range doms {
		d, err := s.domain(&doms[i], nets)
		if err != nil {
			var lerr libvirt.Error
			if errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_DOMAIN {
				continue // gone between list and lookup
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Source) domain(dom *libvirt.Domain, nets map[string]domainxml.Network) (model.Domain, error) {
	name, err := dom.GetName()
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain name: %w", err)
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain %q uuid: %w", name, err)
	}
	id, err := dom.GetID()
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain %q id: %w", name, err)
	}
	st, _, err := dom.GetState()
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain %q state: %w", name, err)
	}
	xml, err := dom.GetXMLDesc(0)
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain %q xml: %w", name, err)
	}
	d, err := domainxml.ParseDomain(xml, s.host)
	if err != nil {
		return model.Domain{}, fmt.Errorf("domain %q: %w", name, err)
	}
	d.Name, d.UUID = name, uuid
	d.BootID = uuid + "/" + strconv.FormatUint(uint64(id), 10)
	switch st {
	case libvirt.DOMAIN_RUNNING:
		d.State = model.Running
	case libvirt.DOMAIN_PAUSED, libvirt.DOMAIN_PMSUSPENDED:
		d.State = model.Paused
	default:
		d.State = model.Other
	}
	for i := range d.NICs {
		n := &d.NICs[i]
		if s.remote && n.Host != nil {
			n.Host = hostnic.Unreadable{Kind: n.HostKind, Why: "libvirt is remote (" + s.uri + "): vmcheck reads a NIC's host side only on the node itself"}
		}
		if n.SourceType != "network" || n.Source == "" {
			continue
		}
		nw, ok := nets[n.Source]
		if !ok {
			nw, err = s.network(n.Source)
			if err != nil {
				return model.Domain{}, fmt.Errorf("domain %q nic %s: %w", name, n.MAC, err)
			}
			nets[n.Source] = nw
		}
		n.NetworkAddrs = nw.Addrs
		for _, a := range nw.Expected(n.MAC) {
			n.Expected = model.AppendExpected(n.Expected, a.Addr, a.Source)
		}
	}
	d.Agent = s.pool.Transport(uuid)
	return d, nil
}

// network reads a libvirt network: its host-side addresses, its DHCP host
// entries and its DHCP leases. A network that does not exist is the zero
// Network; leases that cannot be read are left out (they only add
// expected addresses).
func (s *Source) network(name string) (domainxml.Network, error) {
	nw, err := s.conn.LookupNetworkByName(name)
	if err != nil {
		var lerr libvirt.Error
		if errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_NETWORK {
			return domainxml.Network{}, nil
		}
		return domainxml.Network{}, fmt.Errorf("network %q: %w", name, err)
	}
	defer func() { _ = nw.Free() }()
	xml, err := nw.GetXMLDesc(0)
	if err != nil {
		return domainxml.Network{}, fmt.Errorf("network %q xml: %w", name, err)
	}
	out, err := domainxml.ParseNetwork(xml)
	if err != nil {
		return domainxml.Network{}, err
	}
	if leases, err := nw.GetDHCPLeases(); err == nil {
		ls := make([]domainxml.Lease, 0, min(len(leases), domainxml.MaxDHCPEntries))
		for _, l := range leases[:min(len(leases), domainxml.MaxDHCPEntries)] {
			ls = append(ls, domainxml.Lease{MAC: l.Mac, Addr: l.IPaddr})
		}
		out.AddLeases(ls)
	}
	return out, nil
}

// callCtx runs a blocking libvirt call and returns early when ctx ends; the
// call itself finishes in the background. A value the abandoned call still
// returns (without error) is handed to discard, when not nil, so that it
// leaks nothing: a connection that arrives after the deadline is closed.
func callCtx[T any](ctx context.Context, f func() (T, error), discard func(T)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1) // buffered: the call never blocks on delivery
	go func() {
		v, err := f()
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		if discard != nil {
			go func() {
				if r := <-ch; r.err == nil {
					discard(r.v)
				}
			}()
		}
		var zero T
		return zero, fmt.Errorf("libvirt did not answer in time: %w", ctx.Err())
	}
}

// closeConn closes a connection nobody is waiting for any more.
func closeConn(c *libvirt.Connect) {
	if c != nil {
		_, _ = c.Close()
	}
}
