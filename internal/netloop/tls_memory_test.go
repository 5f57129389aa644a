//go:build linux

package netloop

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// An idle TLS connection keeps nothing of its handshake in the transport:
// the handshake's lock, wake-up and input go at detach, and the addresses
// are still answered (from the Conn).
func TestTLSIdleKeepsNoHandshakeState(t *testing.T) {
	opened := make(chan *Conn, 1)
	h := &handler{open: func(c *Conn) { opened <- c }, message: echo}
	tl, addr, ccfg := startTLSLoop(t, Config{}, "text", h, ListenerConfig{})
	c := dialTLS(t, addr, ccfg)
	if _, err := io.WriteString(c, "one\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "one\n" {
		t.Fatalf("echo %q, %v", got, err)
	}
	sc := recv(t, "OnOpen", opened)
	tl.do(func() {
		tr := sc.tls.tr
		if tr.hs != nil {
			t.Error("the transport still holds its handshake state")
		}
		local, remote := tr.LocalAddr().(*net.TCPAddr), tr.RemoteAddr().(*net.TCPAddr)
		if local.String() != c.RemoteAddr().String() || remote.String() != c.LocalAddr().String() {
			t.Errorf("transport addresses %v %v, client's %v %v", local, remote, c.LocalAddr(), c.RemoteAddr())
		}
	})
}

// After a burst of handshakes, once none has finished for a quiet spell,
// the loop gives the garbage they left back, once; no more handshakes, no
// more releases.
func TestTLSReleaseAfterBurst(t *testing.T) {
	after, quiet, release := tlsReleaseAfter, tlsReleaseQuiet, releaseMemory
	var released atomic.Int32
	tlsReleaseAfter, tlsReleaseQuiet, releaseMemory = 3, 100*time.Millisecond, func() { released.Add(1) }
	t.Cleanup(func() { tlsReleaseAfter, tlsReleaseQuiet, releaseMemory = after, quiet, release })

	tl, addr, ccfg := startTLSLoop(t, Config{}, "text", echoHandler(), ListenerConfig{})
	handshake := func() {
		c := dialTLS(t, addr, ccfg)
		if _, err := io.WriteString(c, "hi\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	handshake()
	handshake()
	tl.waitStats("2 handshakes", func(s Stats) bool { return s.TLSHandshakes == 2 })
	time.Sleep(3 * tlsReleaseQuiet)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times after 2 handshakes, fewer than tlsReleaseAfter", n)
	}
	handshake()
	waitFor(t, "a release after the third", func() bool { return released.Load() == 1 })
	time.Sleep(3 * tlsReleaseQuiet)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times for one burst", n)
	}
}
