package sockets

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// AddrPortToSockaddr converts an IP address and port for bind or connect;
// a v4-mapped IPv6 address becomes an IPv4 one, which an AF_INET socket
// needs.
func AddrPortToSockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
}

// SockaddrToAddrPort converts an IP socket address; v4-mapped IPv6 addresses
// become plain IPv4, so a dual-stack listener reports 127.0.0.1, not
// ::ffff:127.0.0.1. Other families give the zero value.
func SockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
