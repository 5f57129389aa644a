//go:build linux

package netloop

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// connectUDP connects a UDP socket to its one peer.
func connectUDP(fd int, to netip.AddrPort) error {
	return unix.Connect(fd, sockets.AddrPortToSockaddr(to))
}

// waitReadable blocks until fd has a datagram.
func waitReadable(tb testing.TB, fd int) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, int(ioTimeout/time.Millisecond)); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkUDPEcho is one text datagram in and its echo out through a
// running loop; allocs/op is the loop's per-datagram garbage (none).
func BenchmarkUDPEcho(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	fd, err := sockets.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h := echoHandler()
	proto := lookupB(b, "text")
	ln, err := l.AddUDP(fd, ListenerConfig{Protocol: proto, NewConn: func() *Conn { c := &Conn{}; c.SetHandler(h); return c }})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	defer func() {
		l.Stop()
		<-done
	}()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ln.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("hello world\n")
	resp := make([]byte, 64)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUDPRead is the server side alone, on the calling goroutine: a
// burst of 64 datagrams drained and echoed by one read call, so allocs/op
// counts only the loop's own allocations.
func BenchmarkUDPRead(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	fd, err := sockets.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h := echoHandler()
	ln, err := l.AddUDP(fd, ListenerConfig{Protocol: lookupB(b, "text"), NewConn: func() *Conn { c := &Conn{}; c.SetHandler(h); return c }})
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ln.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(4 << 20)
	req := []byte("hello world\n")
	resp := make([]byte, 64)
	const burst = 64
	b.SetBytes(burst * int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for range burst {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
		}
		waitReadable(b, fd)
		ln.udp.read()
		for range burst {
			if _, err := c.Read(resp); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func lookupB(b *testing.B, name string) codec.Protocol {
	p, ok := codec.Lookup(name)
	if !ok {
		b.Fatalf("protocol %q is not registered", name)
	}
	return p
}
