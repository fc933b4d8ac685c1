// Command hostile is a malicious QEMU guest agent for the vmcheck lab.
//
// In a public cloud every tenant controls the agent in its own guest; this
// program plays such a tenant. It speaks just enough of the QGA wire
// protocol (newline-delimited JSON requests; guest-sync and
// guest-sync-delimited answered with the caller's id, guest-ping answered
// normally) for libvirt and vmcheck's socket transport to proceed, and then
// answers every other command with something nasty, chosen by -mode:
//
//	bombs  every reply is valid JSON, ends its line and is nasty: strings
//	       full of terminal escapes, C1 controls, bidi overrides,
//	       zero-width characters and line breaks, base64 blobs whose
//	       decoded output holds the same, counts that lie. In each round
//	       (a check; it starts with guest-info) one command in turn gets an
//	       allocation bomb of just under 4 MiB (libvirt relays at most
//	       4 MiB: millions of {} elements, one huge string, 2.9 MiB of
//	       base64), the others small replies, so that a client refusing
//	       big replies still meets every bomb within six rounds. Replies to
//	       a client that resyncs with guest-sync-delimited (a raw stream,
//	       as vmcheck's socket transport) are sometimes preceded by a flood
//	       of newlines and 0xFF bytes; libvirt, which tolerates junk only in
//	       answer to its first guest-sync, gets one line of 0xFF bytes there.
//	slow   timing attacks, rotating per command: the reply dripped one byte
//	       a second; a line that never ends; an answer for an earlier
//	       guest-sync id (and the next guest-sync answered with a stale id);
//	       a stream of blank lines (then, when no request comes for
//	       -silence, the agent closes and reopens its port, as a crashed
//	       and restarted agent would: libvirt gives up on an agent that
//	       sent it a blank line until then); a small plain reply.
//
// It runs in the lab guest's initramfs (lab/guest/init starts it instead of
// qemu-ga for vmcheck.role=hostile) on the virtio-serial port named
// org.qemu.guest_agent.0, or with -listen unix:PATH on a unix socket, one
// client at a time, as QEMU's chardev serves it. It uses no network.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// agentPortName is the virtio-serial port name QEMU gives the guest agent.
const agentPortName = "org.qemu.guest_agent.0"

func main() {
	mode := flag.String("mode", modeBombs, "bombs or slow")
	port := flag.String("port", "", "the agent's virtio-serial port (default: the /dev/vportNpM named "+agentPortName+")")
	listen := flag.String("listen", "", "serve unix:PATH instead of the virtio-serial port")
	mac := flag.String("mac", "", "hardware address the interface bomb claims (default: the guest's first NIC's)")
	silence := flag.Duration("silence", 30*time.Second, "slow: after a blank-line stream and this long with no request the agent restarts")
	flag.Parse()
	log.SetPrefix("[hostile] ")
	log.SetFlags(0)
	if *mode != modeBombs && *mode != modeSlow {
		log.Fatalf("-mode %q: want %s or %s", *mode, modeBombs, modeSlow)
	}
	if *mac == "" {
		*mac = ownMAC()
	}
	a := newAgent(*mode, *mac, *silence)
	var err error
	switch {
	case strings.HasPrefix(*listen, "unix:"):
		err = serveUnix(a, strings.TrimPrefix(*listen, "unix:"))
	case *listen != "":
		err = fmt.Errorf("-listen %q: only unix:PATH is supported", *listen)
	default:
		if *port == "" {
			*port, err = findPort(5 * time.Second)
		}
		if err == nil {
			err = servePort(a, *port)
		}
	}
	log.Fatal(err)
}

// findPort returns the /dev/vportNpM whose sysfs name is agentPortName,
// waiting up to timeout for the virtio-serial driver to create it (the same
// discovery lab/guest/init does for qemu-ga: there is no udev in the lab
// guests, so no /dev/virtio-ports/ symlinks).
func findPort(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && strings.TrimSpace(string(b)) == agentPortName {
				return "/dev/" + filepath.Base(filepath.Dir(n)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %s after %s", agentPortName, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownMAC returns the hardware address of the guest's first NIC (eth0, or
// else the first non-loopback interface), so that the interface bomb
// matches the domain's NIC; without one, a lab-looking address.
func ownMAC() string {
	paths, _ := filepath.Glob("/sys/class/net/*/address")
	paths = append([]string{"/sys/class/net/eth0/address"}, paths...)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if mac := strings.TrimSpace(string(b)); err == nil && mac != "" && mac != "00:00:00:00:00:00" {
			return mac
		}
	}
	return "52:54:00:0c:00:99"
}

// servePort serves the virtio-serial port at path for ever, closing and
// reopening it whenever a behaviour restarts the agent.
func servePort(a *agent, path string) error {
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		log.Printf("%s mode on %s", a.mode, path)
		err = a.serve(portReader{f}, f)
		f.Close()
		if !errors.Is(err, errRestart) {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		log.Printf("restarting: closing %s for a second", path)
		time.Sleep(time.Second)
	}
}

// portReader reads a virtio-serial port and waits out the times when its
// host side is closed (a read then returns no data at once).
type portReader struct{ f *os.File }

// Read reads from the port, retrying every 100 ms while it is at EOF.
func (p portReader) Read(b []byte) (int, error) {
	for {
		n, err := p.f.Read(b)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveUnix listens on the unix socket path and serves one client at a
// time, as QEMU's chardev socket does; a restart just ends the connection.
func serveUnix(a *agent, path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	log.Printf("%s mode on unix:%s", a.mode, path)
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		_ = a.serve(c, c)
		c.Close()
	}
}
