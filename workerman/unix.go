package workerman

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/sockets"
)

// Credentials identify the process at the other end of a Unix socket
// connection, as the kernel recorded them when it connected.
type Credentials struct {
	PID, UID, GID int
}

// ErrNotUnixSocket is returned by PeerCredentials for a connection that is
// not an open Unix socket connection (TCP, UDP, or closed).
var ErrNotUnixSocket = errors.New("not an open Unix socket connection")

// PeerCredentials returns the pid, uid and gid of the peer of a Unix socket
// connection (SO_PEERCRED), e.g. to serve only some users. Loop-only.
func (c *Connection) PeerCredentials() (Credentials, error) {
	cr, err := c.nc.PeerCredentials()
	if err != nil {
		if !c.nc.IsUnix() {
			return Credentials{}, ErrNotUnixSocket
		}
		return Credentials{}, fmt.Errorf("peer credentials: %w", err)
	}
	return Credentials{PID: cr.PID, UID: cr.UID, GID: cr.GID}, nil
}

// SocketPath is the path of the Unix socket the worker listens on, "" for
// a worker on an IP address. Its connections share it as their local
// address: their RemoteAddr and LocalAddr are the zero netip.AddrPort,
// RemoteIP and LocalIP "" (a Unix peer has no address; Workerman's
// getRemoteIp gives "" too).
func (w *Worker) SocketPath() string { return w.addr.Path }

// resolveTransport reconciles the listen address with Transport as
// Workerman reads them: unix:///path is a raw stream on a Unix socket, and
// a protocol on one is written text:///path with Transport "unix". It
// rewrites a.Scheme to the protocol ("tcp" for unix://).
func (w *Worker) resolveTransport(a *listenaddr.Addr) error {
	switch {
	case a.Scheme == "unix" && w.Transport != "" && w.Transport != "unix":
		return fmt.Errorf("worker %q: transport %q contradicts %q, a Unix socket", w.Name, w.Transport, w.ListenAddr)
	case a.Scheme == "unix":
		w.Transport, a.Scheme = "unix", "tcp"
	case a.IsPath() && w.Transport != "unix":
		return fmt.Errorf("worker %q: %q is a socket path: set Transport to \"unix\"", w.Name, w.ListenAddr)
	case !a.IsPath() && w.Transport == "unix":
		return fmt.Errorf("worker %q: transport \"unix\" listens on a socket path, as in %s:///run/app.sock, not on %q", w.Name, a.Scheme, w.ListenAddr)
	}
	if w.IPv6Only && (!a.IP.Is6() || a.IP.Is4In6()) {
		return fmt.Errorf("worker %q: IPv6Only applies to IPv6 listen addresses, not %q", w.Name, w.ListenAddr)
	}
	return nil
}

// listenName is the bound address for logs: the socket path, or ip:port
// with the real port.
func (w *Worker) listenName() string {
	if w.ListenAddr == "" {
		return "none"
	}
	if w.addr.IsPath() {
		return w.addr.Path
	}
	return w.bound.String()
}

// bind creates w's listening socket in this process (not a daemon child,
// which inherits it from the master).
func (p *Process) bind(w *Worker) (int, error) {
	if w.isUDP() {
		return w.bindSocket()
	}
	if !w.addr.IsPath() {
		return sockets.ListenTCP(w.addr.AddrPort(), sockets.ListenOptions{ReusePort: w.ReusePort, V6Only: w.IPv6Only})
	}
	fd, f, err := sockets.ListenUnix(w.addr.Path, sockets.UnixOptions{UID: -1, GID: -1})
	if err != nil {
		return -1, err
	}
	p.unixFiles = append(p.unixFiles, f)
	return fd, nil
}

// removeSocketFiles removes the Unix socket files this process bound,
// unless someone else has bound the path since.
func (p *Process) removeSocketFiles() {
	for _, f := range p.unixFiles {
		f.Remove()
	}
	p.unixFiles = nil
}

// ipString is ap's IP as RemoteIP and LocalIP give it: "" when there is
// none (a Unix socket), where netip would say "invalid IP".
func ipString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.Addr().String()
}

// connLocal and connRemote are a connection's addresses in the connections
// listing: ip:port, or for a Unix socket its path and "" (the peer has no
// address; Workerman's getRemoteAddress gives "" too).
func connLocal(c *Connection) string {
	if p := c.worker.SocketPath(); p != "" {
		return p
	}
	// An accepted connection's local address is the listener's, unless it
	// listens on every address: no getsockname for each of 100,000 rows.
	if b := c.worker.Addr(); b.IsValid() && !b.Addr().IsUnspecified() && c.worker.Transport != "udp" {
		return b.String()
	}
	return c.LocalAddr().String()
}

func connRemote(c *Connection) string {
	if ap := c.RemoteAddr(); ap.IsValid() {
		return ap.String()
	}
	return ""
}
