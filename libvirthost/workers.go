//go:build cgo

package libvirthost

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/vmcheck/vmcheck/guestagent"
	"github.com/vmcheck/vmcheck/hostnic"
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
// limits with `virt-admin -c ADMIN-URI srv-threadpool-info SERVER`, run
// under ctx. libvirt's admin library cannot share a process with the
// libvirt library here (Debian 12's libvirt 9.0: both register the GObject
// type virConnect, and the second connection opened crashes), so the read
// runs in a child of its own. It needs the daemon's admin socket (root
// only, mode 0700) on this host: a remote URI, a vmcheck that is not root,
// no virt-admin or a daemon without the admin interface fails, and the
// caller falls back to a default.
func ReadWorkers(ctx context.Context, uri string) (Workers, error) {
	cands, err := adminURIs(uri)
	if err != nil {
		return Workers{}, err
	}
	var errs []error
	for _, c := range cands {
		for _, server := range []string{"libvirtd", "virtqemud"} {
			if !strings.HasPrefix(c, server+":") {
				continue
			}
			w, err := readWorkers(ctx, c, server)
			if err == nil {
				return w, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
		}
	}
	return Workers{}, fmt.Errorf("reading libvirtd's worker limits: %w", errors.Join(errs...))
}

// readWorkers runs virt-admin for the thread pool of the RPC server
// server of the admin URI, bounded as every host command (hostnic.Run).
func readWorkers(ctx context.Context, adminURI, server string) (Workers, error) {
	out, err := hostnic.Run(ctx, []string{"virt-admin", "-c", adminURI, "srv-threadpool-info", server})
	if err != nil {
		return Workers{}, err
	}
	return parseThreadPool(server, string(out))
}

// parseThreadPool reads virt-admin srv-threadpool-info's "key : value"
// lines.
func parseThreadPool(server, out string) (Workers, error) {
	w := Workers{Server: server}
	seen := false
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "maxWorkers":
			w.MaxWorkers, seen = n, true
		case "prioWorkers":
			w.PrioWorkers = n
		}
	}
	if !seen || w.MaxWorkers <= 0 {
		return Workers{}, fmt.Errorf("virt-admin srv-threadpool-info %s gave no maxWorkers: %q", server, guestagent.Sanitize(out, 200))
	}
	return w, nil
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
