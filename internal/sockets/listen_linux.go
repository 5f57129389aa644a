package sockets

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// DefaultBacklog is Workerman's listen backlog; the kernel caps it at
// net.core.somaxconn.
const DefaultBacklog = 102400

// ListenOptions tune a listening socket.
type ListenOptions struct {
	Backlog   int
	ReusePort bool
	// V6Only keeps an IPv6 socket to IPv6 (IPV6_V6ONLY): [::] then leaves
	// IPv4 to a listener of its own on 0.0.0.0. Off by default, so [::]
	// serves both, as Linux does.
	V6Only bool
}

// ListenTCP creates a non-blocking, close-on-exec TCP listening socket bound
// to addr. An unspecified IPv6 address ([::]) accepts IPv4 too unless
// opts.V6Only is set.
func ListenTCP(addr netip.AddrPort, opts ListenOptions) (int, error) {
	if opts.Backlog <= 0 {
		opts.Backlog = DefaultBacklog
	}
	domain := unix.AF_INET
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(call, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	if opts.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
	}
	if domain == unix.AF_INET6 {
		// Set either way: the sysctl net.ipv6.bindv6only may have changed
		// the default.
		v6only := 0
		if opts.V6Only {
			v6only = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fail("setsockopt IPV6_V6ONLY", err)
		}
	}
	if err := unix.Bind(fd, AddrPortToSockaddr(addr)); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, opts.Backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}
