//go:build linux

package netloop

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/internal/sockets"
)

// TestUDPConnectedRefused: a connected client's datagram to a closed port
// comes back as ICMP port unreachable, which the loop reports to the
// client's OnError (SendFail, ECONNREFUSED) and counts as send_fail.
func TestUDPConnectedRefused(t *testing.T) {
	tl := newTestLoop(t, Config{})
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	target := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	srv.Close() // nothing listens on target now
	fd, err := sockets.DialUDP(target)
	if err != nil {
		t.Fatal(err)
	}
	type report struct {
		code ErrorCode
		err  error
	}
	errs := make(chan report, 4)
	var ln *Listener
	ln, err = tl.loop.AddUDP(fd, ListenerConfig{Protocol: lookup(t, "text"), NewConn: func() *Conn {
		c := &Conn{}
		c.SetHandler(&handler{err: func(_ *Conn, code ErrorCode, err error) { errs <- report{code, err} }})
		return c
	}})
	if err != nil {
		t.Fatal(err)
	}
	tl.run()
	tl.do(func() { ln.Peer().Send([]byte("anyone?")) })
	r := recv(t, "OnError for the refused datagram", errs)
	if r.code != SendFail || !errors.Is(r.err, unix.ECONNREFUSED) {
		t.Errorf("OnError(%v, %v), want SendFail and ECONNREFUSED", r.code, r.err)
	}
	var fails uint64
	tl.do(func() { fails = tl.loop.Stats().SendFail })
	if fails == 0 {
		t.Errorf("the refused datagram is not counted as send_fail")
	}
	tl.do(func() { ln.Close() })
}
