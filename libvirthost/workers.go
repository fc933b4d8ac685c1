//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"libvirt.org/go/libvirt"
)

// Workers is what libvirtd says of its worker threads (virt-admin
// srv-threadpool-info): every agent call holds one of MaxWorkers until the
// agent answers; PrioWorkers serve only calls that never wait on a guest.
type Workers struct {
	Server      string // the daemon's RPC server: libvirtd or virtqemud
	MaxWorkers  int
	PrioWorkers int
}

// ReadWorkers asks the daemon behind the libvirt URI uri for its worker
// limits through libvirt's admin API. That needs the daemon's admin socket
// (root only, mode 0700) on this host: a remote URI, a vmcheck that is not
// root, or a daemon without the admin interface fails, and the caller
// falls back to a default. It gives up when ctx ends (the call goes on in
// the background).
func ReadWorkers(ctx context.Context, uri string) (Workers, error) {
	cands, err := adminURIs(uri)
	if err != nil {
		return Workers{}, err
	}
	type result struct {
		w   Workers
		err error
	}
	done := make(chan result, 1)
	go func() {
		var errs []error
		for _, c := range cands {
			w, err := readWorkers(c)
			if err == nil {
				done <- result{w, nil}
				return
			}
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
		}
		done <- result{err: errors.Join(errs...)}
	}()
	select {
	case r := <-done:
		return r.w, r.err
	case <-ctx.Done():
		return Workers{}, fmt.Errorf("reading libvirtd's worker limits: %w", ctx.Err())
	}
}

// readWorkers reads the thread pool of the first RPC server of the
// admin URI other than the admin server itself.
func readWorkers(adminURI string) (Workers, error) {
	conn, err := libvirt.NewAdmConnect(adminURI, 0)
	if err != nil {
		return Workers{}, err
	}
	defer conn.Close()
	servers, err := conn.ListServers(0)
	if err != nil {
		return Workers{}, err
	}
	var found *Workers
	for i := range servers {
		s := &servers[i]
		name, err := s.GetName()
		if err == nil && name != "admin" && found == nil {
			if p, perr := s.GetThreadPoolParameters(0); perr == nil && p.MaxWorkersSet {
				found = &Workers{Server: name, MaxWorkers: int(p.MaxWorkers), PrioWorkers: int(p.PrioWorkers)}
			} else if perr != nil {
				err = perr
			}
		}
		s.Free()
		if err != nil && found == nil {
			return Workers{}, err
		}
	}
	if found == nil {
		return Workers{}, errors.New("the daemon lists no RPC server with a thread pool")
	}
	return *found, nil
}

// adminURIs are the admin URIs of the daemon behind a local libvirt URI:
// the admin socket beside the socket= one, else libvirtd's then
// virtqemud's (a host with modular daemons).
func adminURIs(uri string) ([]string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("libvirt URI %q: %w", uri, err)
	}
	scheme, transport, _ := strings.Cut(u.Scheme, "+")
	if u.Host != "" || (transport != "" && transport != "unix") {
		return nil, fmt.Errorf("libvirt URI %q is not local: libvirtd's admin socket is reachable only on its host", uri)
	}
	if scheme != "qemu" {
		return nil, fmt.Errorf("libvirt URI %q: only qemu URIs are supported", uri)
	}
	mode := strings.TrimPrefix(u.Path, "/")
	if mode != "system" && mode != "session" {
		return nil, fmt.Errorf("libvirt URI %q: path %q is neither /system nor /session", uri, u.Path)
	}
	if sock := u.Query().Get("socket"); sock != "" {
		dir, base := path.Split(sock)
		daemon := strings.TrimSuffix(base, "-sock")
		if daemon == base || strings.Contains(daemon, "-") {
			return nil, fmt.Errorf("libvirt URI %q: socket %q is not a daemon's <name>-sock", uri, sock)
		}
		admin := (&url.URL{Scheme: daemon, Path: "/" + mode, RawQuery: url.Values{"socket": {dir + daemon + "-admin-sock"}}.Encode()}).String()
		if daemon == "libvirt" {
			admin = strings.Replace(admin, "libvirt:", "libvirtd:", 1)
		}
		return []string{admin}, nil
	}
	return []string{"libvirtd:///" + mode, "virtqemud:///" + mode}, nil
}
