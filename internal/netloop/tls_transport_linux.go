package netloop

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"time"
)

// tlsTransport is the net.Conn under a TLS connection's tls.Conn. The
// socket itself belongs to the loop; the transport only moves bytes between
// the loop and crypto/tls, in one of two modes:
//
//   - handshake: the handshake goroutine's Read blocks until the loop feeds
//     what it read (feed), and its Write copies the records and posts them to
//     the loop, which writes them in order with everything else;
//   - loop (after detach): only the loop calls the tls.Conn. Read returns the
//     ciphertext lent in src and then errWouldBlock; Write appends the sealed
//     records to the loop's tlsOut.
//
// What only the handshake needs (the lock, the wake-up, the fed bytes) is
// in hs, dropped at detach: an idle connection, which may stay for hours,
// keeps the transport's few words and nothing of its handshake.
type tlsTransport struct {
	loop *Loop
	c    *Conn
	// src is the ciphertext lent for one tlsOpen (loop mode).
	src []byte
	// fed counts the bytes fed before the handshake; loop-only.
	fed int
	// handshakeOut, when set (tests, fuzzing), receives the handshake's
	// records instead of the loop.
	handshakeOut func([]byte)
	// hs is the handshake mode's state; nil in loop mode (set by the loop
	// once the handshake goroutine is done, so no race).
	hs *tlsHandshakeIO
	// local is kept as a value, not a net.Addr: the handshake goroutine
	// may ask for it (a GetCertificate looking at the ClientHelloInfo's
	// Conn) when asking the socket would race with the loop closing it,
	// and an address is rarely asked for at all. The remote address is
	// the Conn's, which never changes.
	local netip.AddrPort
}

// tlsHandshakeIO is how the loop and a handshake goroutine meet.
type tlsHandshakeIO struct {
	mu     sync.Mutex
	cond   sync.Cond
	in     bytes.Buffer // fed and not read yet
	closed bool
}

func newTLSTransport(l *Loop, c *Conn) *tlsTransport {
	t := &tlsTransport{loop: l, c: c, local: c.LocalAddr(), hs: &tlsHandshakeIO{}}
	t.hs.cond.L = &t.hs.mu
	return t
}

// wouldBlock is the transport's "no more input now". crypto/tls keeps a
// partial record across a transport error whose Temporary() is true, which
// is what lets the loop feed records as they arrive (tls_behaviour_test.go).
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "netloop: no more TLS input buffered" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

// feed hands bytes read from the socket to the handshake and returns how
// many are waiting. Loop-only.
func (t *tlsTransport) feed(b []byte) int {
	t.fed += len(b)
	hs := t.hs
	hs.mu.Lock()
	hs.in.Write(b)
	n := hs.in.Len()
	hs.mu.Unlock()
	hs.cond.Signal()
	return n
}

// head returns the first bytes fed, at least a record header's worth
// (callers check). Loop-only, before the handshake goroutine starts.
func (t *tlsTransport) head() []byte {
	t.hs.mu.Lock()
	defer t.hs.mu.Unlock()
	return t.hs.in.Bytes()[:tlsRecordHeader]
}

// detach switches to loop mode once the handshake goroutine is done, and
// returns what was fed but not read by the handshake. Loop-only.
func (t *tlsTransport) detach() []byte {
	hs := t.hs
	hs.mu.Lock()
	rest := bytes.Clone(hs.in.Bytes())
	hs.mu.Unlock()
	t.hs = nil
	return rest
}

// Read implements net.Conn.
func (t *tlsTransport) Read(p []byte) (int, error) {
	hs := t.hs
	if hs == nil { // loop mode
		if len(t.src) == 0 {
			return 0, errWouldBlock
		}
		n := copy(p, t.src)
		t.src = t.src[n:]
		return n, nil
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for hs.in.Len() == 0 && !hs.closed {
		hs.cond.Wait()
	}
	if hs.in.Len() == 0 {
		return 0, net.ErrClosed
	}
	return hs.in.Read(p)
}

// Write implements net.Conn.
func (t *tlsTransport) Write(p []byte) (int, error) {
	hs := t.hs
	if hs == nil { // loop mode
		t.loop.tlsOut = append(t.loop.tlsOut, p...)
		return len(p), nil
	}
	hs.mu.Lock()
	closed := hs.closed
	hs.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	b := bytes.Clone(p)
	if t.handshakeOut != nil {
		t.handshakeOut(b)
		return len(p), nil
	}
	c, st := t.c, t.c.tls
	t.loop.Post(func() {
		switch {
		case c.tls != st:
		case st.client:
			// A client's handshake runs while it is still connecting,
			// with the handler's output held in the queue.
			if c.status == StatusConnecting {
				c.tlsClientWrite(b)
			}
		case c.status == StatusEstablished:
			c.writeWireQuiet(b)
		}
	})
	return len(p), nil
}

// Close wakes a handshake blocked in Read; the socket is the loop's.
// Loop-only.
func (t *tlsTransport) Close() error {
	hs := t.hs
	if hs == nil {
		return nil // loop mode: nothing waits
	}
	hs.mu.Lock()
	hs.closed = true
	hs.mu.Unlock()
	hs.cond.Broadcast()
	return nil
}

func (t *tlsTransport) LocalAddr() net.Addr              { return net.TCPAddrFromAddrPort(t.local) }
func (t *tlsTransport) RemoteAddr() net.Addr             { return net.TCPAddrFromAddrPort(t.c.remote) }
func (t *tlsTransport) SetDeadline(time.Time) error      { return nil }
func (t *tlsTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsTransport) SetWriteDeadline(time.Time) error { return nil }
