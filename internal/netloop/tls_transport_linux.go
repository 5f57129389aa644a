package netloop

import (
	"bytes"
	"net"
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

	mu       sync.Mutex
	cond     sync.Cond
	in       bytes.Buffer // handshake mode: fed and not read yet
	closed   bool
	loopMode bool

	local, remote net.Addr
}

func newTLSTransport(l *Loop, c *Conn) *tlsTransport {
	t := &tlsTransport{loop: l, c: c, remote: net.TCPAddrFromAddrPort(c.remote)}
	t.local = net.TCPAddrFromAddrPort(c.LocalAddr())
	t.cond.L = &t.mu
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
	t.mu.Lock()
	t.in.Write(b)
	n := t.in.Len()
	t.mu.Unlock()
	t.cond.Signal()
	return n
}

// head returns the first bytes fed, at least a record header's worth
// (callers check). Loop-only, before the handshake goroutine starts.
func (t *tlsTransport) head() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.in.Bytes()[:tlsRecordHeader]
}

// detach switches to loop mode once the handshake goroutine is done, and
// returns what was fed but not read by the handshake. Loop-only.
func (t *tlsTransport) detach() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loopMode = true
	rest := bytes.Clone(t.in.Bytes())
	t.in = bytes.Buffer{}
	return rest
}

// Read implements net.Conn.
func (t *tlsTransport) Read(p []byte) (int, error) {
	if t.loopMode { // set before the loop calls, by the loop: no race
		if len(t.src) == 0 {
			return 0, errWouldBlock
		}
		n := copy(p, t.src)
		t.src = t.src[n:]
		return n, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.in.Len() == 0 && !t.closed {
		t.cond.Wait()
	}
	if t.in.Len() == 0 {
		return 0, net.ErrClosed
	}
	return t.in.Read(p)
}

// Write implements net.Conn.
func (t *tlsTransport) Write(p []byte) (int, error) {
	if t.loopMode {
		t.loop.tlsOut = append(t.loop.tlsOut, p...)
		return len(p), nil
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
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
func (t *tlsTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cond.Broadcast()
	return nil
}

func (t *tlsTransport) LocalAddr() net.Addr              { return t.local }
func (t *tlsTransport) RemoteAddr() net.Addr             { return t.remote }
func (t *tlsTransport) SetDeadline(time.Time) error      { return nil }
func (t *tlsTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *tlsTransport) SetWriteDeadline(time.Time) error { return nil }
