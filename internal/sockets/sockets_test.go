package sockets

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAddrConversions(t *testing.T) {
	for _, tc := range []struct{ in, back string }{
		{"127.0.0.1:80", "127.0.0.1:80"},
		{"[::1]:443", "[::1]:443"},
		// A dual-stack listener sees IPv4 peers as v4-mapped; they are
		// reported, and bound, as the IPv4 addresses they are.
		{"[::ffff:10.0.0.1]:8080", "10.0.0.1:8080"},
	} {
		sa := AddrPortToSockaddr(netip.MustParseAddrPort(tc.in))
		if got := SockaddrToAddrPort(sa).String(); got != tc.back {
			t.Errorf("%s: round trip gave %s, want %s", tc.in, got, tc.back)
		}
	}
	if got := SockaddrToAddrPort(&unix.SockaddrUnix{Name: "/x"}); got.IsValid() {
		t.Errorf("a Unix socket address gave %s, want the zero value", got)
	}
}

func TestListenTCP(t *testing.T) {
	fd, err := ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ListenOptions{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("listener not non-blocking: flags %#x, %v", fl, err)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("listener not close-on-exec: flags %#x, %v", fdfl, err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v == 0 {
		t.Errorf("SO_REUSEPORT = %d, %v; want set", v, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap := SockaddrToAddrPort(sa)
	if ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() == 0 {
		t.Fatalf("bound to %s", ap)
	}
	c, err := net.Dial("tcp", ap.String())
	if err != nil {
		t.Fatalf("dial %s: %v", ap, err)
	}
	c.Close()
}
