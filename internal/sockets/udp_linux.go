package sockets

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// ListenUDP creates a non-blocking, close-on-exec UDP socket bound to addr:
// a UDP worker binds and never listens (as Workerman). With ReusePort each
// process binds its own socket and the kernel spreads datagrams among them
// by the sender's address; without it the processes share one socket.
// Backlog does not apply. An unspecified IPv6 address ([::]) receives IPv4
// datagrams too unless opts.V6Only is set.
func ListenUDP(addr netip.AddrPort, opts ListenOptions) (int, error) {
	fd, err := DialUDPSocket(addr)
	if err != nil {
		return -1, err
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(call, err)
	}
	// No SO_REUSEADDR: TCP needs it for ports in TIME_WAIT, which UDP
	// has not, and on a UDP socket it would let a second daemon bind the
	// same port and take a share of the datagrams.
	if opts.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
	}
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		// Set either way, as for TCP: net.ipv6.bindv6only may change the
		// default.
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
	return fd, nil
}

// DialUDPSocket creates an unbound, non-blocking, close-on-exec UDP socket of
// addr's family: the start of ListenUDP, and of a client that connects it.
func DialUDPSocket(addr netip.AddrPort) (int, error) {
	domain := unix.AF_INET
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// DialUDP creates a UDP socket connected to addr, as a client's: the
// kernel then delivers only addr's datagrams to it, and an ICMP port
// unreachable for a datagram it sent comes back as ECONNREFUSED on its
// next read or send, which an unconnected socket never hears of.
func DialUDP(addr netip.AddrPort) (int, error) {
	fd, err := DialUDPSocket(addr)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, AddrPortToSockaddr(addr)); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}
