package web

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/vsock"

	"github.com/vmcheck/vmcheck/internal/timing"
)

// Connection limits of `vmcheck serve`'s web server. A Prometheus scrape
// sends its request at once and reads a response of a few MB at most; a
// browser does the same for the pages. Anything slower is a client to drop.
const (
	// DefaultMaxConnections caps the connections open at once over all
	// listeners: 1024 fds, well under the unit's LimitNOFILE=8192 with
	// the libvirt connections (at most --concurrency) beside them.
	DefaultMaxConnections = 1024
	// DefaultReadHeaderTimeout bounds a new connection's wait for its
	// request's headers (slowloris).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds the reading of a whole request.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds the writing of a response, from the end
	// of its request's headers: a client that does not read is dropped.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection idle this long:
	// longer than the usual scrape intervals, so Prometheus keeps its
	// connection between scrapes.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds a request's headers (net/http allows
	// 4 KiB more for its buffer).
	DefaultMaxHeaderBytes = 16 << 10
)

// Limits are the connection limits of the web server; a zero field takes
// its default above.
type Limits struct {
	// MaxConnections caps the connections open at once over all
	// listeners. When a new connection would exceed it, one without a
	// request in progress (idle keep-alive, or still sending its
	// headers) is closed to make room: of the client address holding the
	// most connections, the one that has waited longest; the new one
	// itself if every other is in a request. A flood of idle or slow
	// connections from some addresses cannot lock out a scraper that
	// holds fewer.
	MaxConnections int
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// those of net/http.Server.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes is net/http.Server's.
	MaxHeaderBytes int
}

// withDefaults returns l with its zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	l.MaxConnections = cmp.Or(l.MaxConnections, DefaultMaxConnections)
	l.ReadHeaderTimeout = timing.Or(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.ReadTimeout = timing.Or(l.ReadTimeout, DefaultReadTimeout)
	l.WriteTimeout = timing.Or(l.WriteTimeout, DefaultWriteTimeout)
	l.IdleTimeout = timing.Or(l.IdleTimeout, DefaultIdleTimeout)
	l.MaxHeaderBytes = cmp.Or(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	return l
}

// apply sets l's timeouts and header bound on srv.
func (l Limits) apply(srv *http.Server) {
	srv.ReadHeaderTimeout, srv.ReadTimeout = l.ReadHeaderTimeout, l.ReadTimeout
	srv.WriteTimeout, srv.IdleTimeout = l.WriteTimeout, l.IdleTimeout
	srv.MaxHeaderBytes = l.MaxHeaderBytes
}

// listen opens a listener per address: host:port for TCP, vsock://:PORT
// for vsock, as exporter-toolkit's web.ListenAndServe does. On error, the
// listeners already open are closed.
func listen(addrs []string) ([]net.Listener, error) {
	var ls []net.Listener
	for _, a := range addrs {
		l, err := listenOne(a)
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, errors.New("no web listen address")
	}
	return ls, nil
}

func listenOne(addr string) (net.Listener, error) {
	if !strings.HasPrefix(addr, "vsock://") {
		return net.Listen("tcp", addr)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: port: %w", addr, err)
	}
	l, err := vsock.Listen(uint32(port), nil)
	if err != nil {
		return nil, fmt.Errorf("listen on %q: %w", addr, err)
	}
	return l, nil
}

// connLimiter caps the connections open at once over the listeners it
// wraps. Its ConnState must be the http.Server's, so that it knows which
// connections are in a request.
type connLimiter struct {
	limit int
	now   func() time.Time

	mu     sync.Mutex
	conns  map[*limitedConn]struct{}
	perSrc map[netip.Addr]int // open connections per client address
}

func newConnLimiter(limit int) *connLimiter {
	return &connLimiter{limit: limit, now: time.Now, conns: map[*limitedConn]struct{}{}, perSrc: map[netip.Addr]int{}}
}

// limitedConn is a connection counted by a connLimiter.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	src   netip.Addr // the client's address; zero if not IP
	once  sync.Once
	busy  bool      // in a request; guarded by l.mu
	since time.Time // accepted, or became idle; guarded by l.mu
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		c.l.mu.Lock()
		if _, ok := c.l.conns[c]; ok {
			delete(c.l.conns, c)
			if c.l.perSrc[c.src]--; c.l.perSrc[c.src] <= 0 {
				delete(c.l.perSrc, c.src)
			}
		}
		c.l.mu.Unlock()
		err = c.Conn.Close()
	})
	return err
}

// wrap returns l counting its connections against the limiter.
func (cl *connLimiter) wrap(l net.Listener) net.Listener { return &limitListener{Listener: l, cl: cl} }

type limitListener struct {
	net.Listener
	cl *connLimiter
}

// Accept accepts a connection and, beyond the cap, closes the connection
// that has waited longest without a request in progress: the oldest idle
// one, or the new one if every other is busy.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l.cl, src: srcAddr(c.RemoteAddr())}
		if victim := l.cl.admit(lc); victim != lc {
			if victim != nil {
				_ = victim.Close()
			}
			return lc, nil
		}
		_ = lc.Close()
	}
}

// srcAddr returns the IP address of a TCP remote address, zero for others.
func srcAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit counts c and, beyond the cap, returns the connection to close
// (possibly c itself); nil if there is room.
func (cl *connLimiter) admit(c *limitedConn) *limitedConn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	c.since = cl.now()
	cl.conns[c] = struct{}{}
	cl.perSrc[c.src]++
	if len(cl.conns) <= cl.limit {
		return nil
	}
	victim := c
	for o := range cl.conns {
		if !o.busy && cl.rather(o, victim) {
			victim = o
		}
	}
	return victim
}

// rather reports whether a should be closed rather than b: its client
// holds more connections, or as many and a has waited longer.
func (cl *connLimiter) rather(a, b *limitedConn) bool {
	if na, nb := cl.perSrc[a.src], cl.perSrc[b.src]; na != nb {
		return na > nb
	}
	return a.since.Before(b.since)
}

// ConnState is the http.Server's ConnState hook: it marks connections in
// a request as busy, and the others as idle since now.
func (cl *connLimiter) ConnState(c net.Conn, st http.ConnState) {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = nc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	switch st {
	case http.StateActive, http.StateHijacked:
		lc.busy = true
	case http.StateIdle:
		lc.busy, lc.since = false, cl.now()
	}
}

// open returns the number of connections open.
func (cl *connLimiter) open() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.conns)
}
