package netloop

import (
	"errors"

	"golang.org/x/sys/unix"
)

// tlsCloseNotify ends an established TLS connection's output with a
// close_notify alert, as a TLS peer must before it closes: without it a
// client cannot tell a complete close-delimited answer from a truncated one
// (OpenSSL 3 reports "unexpected eof while reading"). Called once the queued
// output is written; it reports true when the alert did not all go out, so
// the close waits for the socket to drain. Best effort: a peer already gone
// is not a send failure.
func (c *Conn) tlsCloseNotify() (waiting bool) {
	st := c.tls
	if st == nil || !st.up || st.notified || c.fd < 0 {
		return false
	}
	st.notified = true
	l := c.loop
	l.tlsOut = l.tlsOut[:0]
	// Loop mode: the transport appends the sealed alert to tlsOut.
	if err := st.conn.CloseWrite(); err != nil {
		return false
	}
	alert := l.tlsOut
	l.tlsOut = l.tlsOut[:0]
	n, err := writeRaw(c.fd, alert)
	if n < 0 {
		n = 0
	}
	c.bytesWritten += uint64(n)
	if n == len(alert) || err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		return false
	}
	c.out.append(alert[n:])
	c.setWriteInterest(true)
	return true
}
