package netloop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// TLS client connections: an outbound connection dialled with DialTLS runs
// the server side's engine (tls_linux.go) with tls.Client instead of
// tls.Server. What differs:
//
//   - the connection stays StatusConnecting until its handshake succeeds, so
//     whatever the handler sends meanwhile is queued as plaintext exactly as
//     before the TCP connect, and sealed in order once the keys exist;
//   - the handshake's own records therefore cannot use that queue: they are
//     written straight to the socket, and what it does not take waits in
//     tlsState.hsOut, ahead of everything else;
//   - the dial timeout keeps running through the handshake, so one limit
//     bounds connect and handshake together;
//   - a failed or timed-out handshake is a failed connect: OnError
//     (ConnectFail) then OnClose, and counted as the server's are;
//   - no cap on handshakes in flight: this process chose to connect, so
//     there is no flood to guard against.

// DialTLS is Dial for a TLS client connection: once connected, it runs a
// TLS handshake configured by cfg (required: ServerName, RootCAs, session
// cache are the caller's choice) off the loop, and reports OnOpen only when
// it succeeds. timeout bounds connect and handshake together. Loop-only.
func (l *Loop) DialTLS(c *Conn, addr netip.AddrPort, timeout time.Duration, cfg *tls.Config) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	l.dial(c, addr, timeout, cfg)
}

// tlsClientStart starts the handshake of a client whose TCP connect just
// succeeded.
func (c *Conn) tlsClientStart() {
	l, st := c.loop, c.tls
	st.tr = newTLSTransport(l, c)
	st.conn = tls.Client(st.tr, st.cfg)
	st.started = true
	c.lastRead = l.tick
	// Queued output must wait for the keys: no EPOLLOUT for it yet.
	c.modEvents(readEvents)
	c.tlsHandshake()
}

// tlsClientEvents handles socket events while a client handshakes: its
// records still to write, and the server's to feed to the handshake.
func (c *Conn) tlsClientEvents(ev uint32) {
	st, l := c.tls, c.loop
	if ev&unix.EPOLLOUT != 0 && len(st.hsOut) > 0 {
		c.tlsClientFlush()
		if c.status != StatusConnecting {
			return
		}
	}
	if c.events&unix.EPOLLIN == 0 {
		// Input ended: the handshake goroutine reports the outcome. Until
		// its result is posted, a reset socket keeps reporting
		// EPOLLHUP/EPOLLERR, which there is nothing to do about.
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	n, err := readRaw(c.fd, l.rbuf)
	if n > 0 {
		c.bytesRead += uint64(n)
		c.lastRead = l.tick
		if st.tr.feed(l.rbuf[:n]) > tlsMaxHandshakeInput {
			l.stats.TLSHandshakeErrors++
			c.connectFailed(fmt.Errorf("TLS handshake with %s: the server sent over %d bytes", c.remote, tlsMaxHandshakeInput))
		}
		return
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	// End of input or a socket error. The handshake may not have read what
	// came before it yet, often an alert saying why the server gave up,
	// which explains more than the hang-up: let it read that, then fail
	// (the transport reports net.ErrClosed after the fed bytes).
	st.tr.Close()
	c.modEvents(c.events &^ readEvents)
}

// tlsClientWrite writes one of the handshake's records, posted by its
// goroutine.
func (c *Conn) tlsClientWrite(b []byte) {
	st := c.tls
	if len(st.hsOut) > 0 {
		st.hsOut = append(st.hsOut, b...)
		return
	}
	st.hsOut = b
	c.tlsClientFlush()
}

// tlsClientFlush writes the handshake records waiting in hsOut.
func (c *Conn) tlsClientFlush() {
	st, l := c.tls, c.loop
	n, err := writeRaw(c.fd, st.hsOut)
	if n > 0 {
		c.bytesWritten += uint64(n)
		st.hsOut = st.hsOut[n:]
	}
	if len(st.hsOut) == 0 {
		st.hsOut = nil
		c.modEvents(c.events &^ unix.EPOLLOUT)
		return
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.stats.TLSHandshakeErrors++
		c.connectFailed(fmt.Errorf("TLS handshake with %s: write: %w", c.remote, err))
		return
	}
	c.modEvents(c.events | unix.EPOLLOUT)
}

// tlsClientHandshook runs on the loop when a client's handshake returned:
// a success opens the connection for its handler as finishConnect does a
// plain one, a failure is a failed connect.
func (c *Conn) tlsClientHandshook(st *tlsState, err error) {
	l := c.loop
	if c.tls != st || c.status != StatusConnecting {
		return // destroyed meanwhile (timeout, Close, shutdown)
	}
	if err != nil {
		l.stats.TLSHandshakeErrors++
		c.connectFailed(fmt.Errorf("TLS handshake with %s: %w", c.remote, err))
		return
	}
	defer l.recoverPanic(c, "OnOpen")
	l.stats.TLSHandshakes++
	if c.dialTimer != 0 {
		l.DelTimer(c.dialTimer)
		c.dialTimer = 0
	}
	rest := st.tr.detach()
	st.up, st.opened = true, true
	c.status = StatusEstablished
	c.lastRead = l.tick
	// What the handler sent while connecting is plaintext in the queue.
	// Seal what comes before any file region now (what follows one stays
	// plaintext and tlsSendFile seals it after the region, as for every
	// TLS connection), behind the rest of the handshake's last flight.
	if k := c.out.memAhead(); k > 0 {
		plain := c.out.takeFront(nil, k)
		l.tlsOut = l.tlsOut[:0]
		if !c.tlsSealMore(plain) {
			l.stats.SendFail++
			c.destroy()
			return
		}
		c.out.prepend(l.tlsOut)
		l.tlsOut = l.tlsOut[:0]
	}
	c.out.prepend(st.hsOut)
	st.hsOut = nil
	if !c.openEstablished() || c.status != StatusEstablished {
		return
	}
	// The server's first records (a TLS 1.3 session ticket, an early
	// answer) may have come with its last handshake flight.
	c.tlsDeliverEarly(rest)
}
