package netloop

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// Close writes what is queued, then closes c (lingering first when Linger
// was called). Input arriving meanwhile is ignored. Called from c's codec
// while it encodes, it takes effect once the encoded bytes are queued. Safe
// from any goroutine: off the loop it posts the close.
func (c *Conn) Close() {
	if !c.loop.OnLoop() {
		c.loop.Post(c.closeNow)
		return
	}
	c.closeNow()
}

func (c *Conn) closeNow() {
	if c.udp() != nil {
		return // a UDP sender has nothing to close; the socket is the listener's
	}
	switch c.status {
	case StatusInitial, StatusConnecting:
		c.destroy()
		return
	case StatusClosing, StatusClosed:
		return
	}
	if c.loop.encConn == c {
		// c's Encode is running: the bytes it produces go out first, then
		// afterEncode closes.
		c.flags |= flagCloseQueued
		return
	}
	c.status = StatusClosing
	if c.loop.corkConn == c {
		c.flushCork()
		if c.status == StatusClosed {
			return
		}
	}
	c.flags |= flagPaused
	c.modEvents(c.events &^ readEvents)
	if c.out.empty() {
		c.finishClose()
	}
}

// CloseGoingAway closes c as Close does, after its protocol's farewell
// (codec.Farewell): a process going down tells websocket peers so (1001)
// instead of dropping them. Loop-only.
func (c *Conn) CloseGoingAway() {
	if c.status == StatusEstablished && c.loop.encConn != c {
		if f, ok := c.codec.(codec.Farewell); ok {
			if b := f.Farewell(); len(b) > 0 {
				c.WriteRaw(b)
			}
		}
	}
	c.closeNow()
}

// finishClose ends a closing connection whose output is all written: at
// once, or after lingering (Linger).
func (c *Conn) finishClose() {
	if c.tlsCloseNotify() {
		return // the alert waits for the socket; writable finishes
	}
	if c.linger != nil && !c.linger.active && c.fd >= 0 {
		c.startLinger()
		return
	}
	c.destroy()
}

// Destroy closes c at once, dropping queued output. Safe from any goroutine:
// off the loop it posts the destroy.
func (c *Conn) Destroy() {
	if !c.loop.OnLoop() {
		c.loop.Post(c.destroy)
		return
	}
	c.destroy()
}

// destroy closes the socket, forgets the connection and runs OnClose exactly
// once. Bookkeeping is done before OnClose so a panic there leaks nothing.
func (c *Conn) destroy() {
	if c.status == StatusClosed || c.udp() != nil {
		return
	}
	l := c.loop
	if c.dialTimer != 0 {
		l.DelTimer(c.dialTimer)
		c.dialTimer = 0
	}
	if c.linger != nil && c.linger.timer != 0 {
		l.DelTimer(c.linger.timer)
		c.linger.timer = 0
	}
	if fd := c.unregister(); fd >= 0 {
		_ = unix.Close(fd)
	}
	if c.tls != nil && !c.tls.opened {
		// A TLS connection whose handshake did not succeed was never
		// opened for its handler: no OnClose. A handshake still running
		// is woken to fail. A client's handler, which asked to connect,
		// sees OnClose as after any failed connect.
		if c.tls.tr != nil {
			c.tls.tr.Close()
		}
		if !c.tls.client {
			return
		}
	}
	cd := c.codec
	c.notifyClose()
	if cl, ok := cd.(io.Closer); ok {
		_ = cl.Close() // nothing on the loop can act on a release failing
	}
}

// unregister forgets c in the loop and marks it closed, leaving its socket
// open: the fd (or -1) is returned for the caller to close or hand over.
func (c *Conn) unregister() int {
	l := c.loop
	fd := c.fd
	if fd >= 0 {
		if fd < len(l.conns) && l.conns[fd] == c {
			l.conns[fd] = nil
		}
		// Explicit removal: a copy of the socket in another process (a
		// hand-over) would keep it in this epoll set after close.
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		c.fd = -1
	}
	c.status = StatusClosed
	if c.ln != nil {
		c.ln.live--
		c.ln = nil
	}
	if c.flags&flagCounted != 0 {
		l.stats.Connections--
		l.noteChurn()
	}
	// flagNested survives: an Encode running now still has to pop its
	// mark, and its held output is dropped then (files closed).
	c.flags &= flagNested
	c.events = 0
	c.unwatchBacklog()
	if l.corkConn == c {
		l.cork = l.cork[:0]
	}
	c.out.release()
	c.in = nil
	c.pending = 0
	return fd
}

func (c *Conn) notifyClose() {
	defer c.loop.recoverPanic(nil, "OnClose")
	c.handler.OnClose(c)
}
