package sockets

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenUDP(t *testing.T) {
	fd, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), ListenOptions{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_DGRAM {
		t.Errorf("SO_TYPE = %d, %v; want SOCK_DGRAM", typ, err)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v == 0 {
		t.Errorf("SO_REUSEPORT = %d, %v; want set", v, err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("not non-blocking: flags %#x, %v", fl, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ap := SockaddrToAddrPort(sa)
	// A second socket on the same port binds too with SO_REUSEPORT: the
	// kernel then spreads datagrams between them.
	fd2, err := ListenUDP(ap, ListenOptions{ReusePort: true})
	if err != nil {
		t.Fatalf("second SO_REUSEPORT bind of %s: %v", ap, err)
	}
	unix.Close(fd2)
	if fd3, err := ListenUDP(ap, ListenOptions{}); err == nil {
		unix.Close(fd3)
		t.Errorf("a bind without SO_REUSEPORT on a taken port succeeded")
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, 10000); err != nil {
		t.Fatal(err)
	}
	if n, _, err := unix.Recvfrom(fd, buf, 0); err != nil || string(buf[:n]) != "x" {
		t.Errorf("recvfrom = %q, %v", buf[:n], err)
	}
}
