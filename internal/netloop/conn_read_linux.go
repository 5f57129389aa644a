package netloop

import (
	"bytes"
	"errors"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// resumeBuffered frames the input kept while paused, which comes before
// anything read now, the peer's FIN included. It reports whether reading
// may go on (c is still open and not paused again).
func (c *Conn) resumeBuffered() bool {
	if c.flags&flagResumeQueued == 0 {
		return true
	}
	c.processBuffered()
	return c.status == StatusEstablished && c.flags&flagPaused == 0
}

func (c *Conn) readable(ev uint32) {
	if c.tls != nil {
		c.tlsReadable(ev)
		return
	}
	if !c.resumeBuffered() {
		return
	}
	l := c.loop
	n, err := readRaw(c.fd, l.rbuf)
	if n <= 0 {
		switch {
		case n == 0 && err == nil:
			c.peerEOF()
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			l.log.Debug("read failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
			c.destroy()
		}
		return
	}
	c.bytesRead += uint64(n)
	c.lastRead = l.tick
	c.deliver(l.rbuf[:n])
	// EPOLLRDHUP with a short read means the peer's FIN came after all of
	// this data: no need for another read to learn it. A connection paused
	// meanwhile (back-pressure) still holds input to deliver: it learns of
	// the FIN by reading again once resumed.
	if ev&unix.EPOLLRDHUP != 0 && n < len(l.rbuf) && c.status == StatusEstablished && c.flags&flagPaused == 0 {
		c.peerEOF()
	}
}

// deliver frames and delivers input just read (plaintext, for TLS), after
// what c kept of earlier reads.
func (c *Conn) deliver(data []byte) {
	l := c.loop
	if poisonMessages {
		// Deliver from a private copy, so poisoned bytes stay poisoned
		// instead of turning into the next read's data.
		data = bytes.Clone(data)
	}
	if len(c.in) > 0 || l.MoveIdle != nil {
		c.in = append(c.in, data...)
		data = c.in
		if l.MoveIdle != nil && l.MoveIdle(c) {
			return // moved to another process with the bytes just read
		}
	}
	c.consume(data)
}

// processBuffered frames input kept while reading was paused or before a
// codec switch.
func (c *Conn) processBuffered() {
	if c.status != StatusEstablished || c.flags&(flagPaused|flagHeld) != 0 || len(c.in) == 0 {
		return
	}
	if l := c.loop; l.MoveIdle != nil && l.MoveIdle(c) {
		return
	}
	defer c.loop.recoverPanic(c, "connection")
	c.consume(c.in)
}

// consume frames and delivers the packets in data with output corked, then
// keeps the unconsumed tail and writes the corked output.
func (c *Conn) consume(data []byte) {
	l := c.loop
	l.corkConn = c
	used := c.process(data)
	l.corkConn = nil
	if c.status == StatusClosed {
		return
	}
	c.keep(data, used)
	c.flushCork()
	c.releaseHeld()
}

func (c *Conn) process(data []byte) int {
	l := c.loop
	off := 0
	for off < len(data) && c.status == StatusEstablished && c.flags&flagPaused == 0 {
		if c.flags&flagPaced != 0 && c.pending == 0 && c.bufferFull() {
			c.hold()
			return off
		}
		buf := data[off:]
		n := c.pending
		if n == 0 {
			var err error
			n, err = c.codec.Input(buf)
			switch {
			case err != nil:
				c.protocolError(err)
				return len(data)
			case n == 0:
				// Input held while the codec paused reading (a pipelined
				// request waiting for the response before it) is bounded by
				// the pause itself, not by the packet limit.
				if len(buf) >= c.maxPkg && c.flags&flagPaused == 0 {
					c.protocolError(codec.ErrPackageTooLarge)
					return len(data)
				}
				return off
			case n < 0:
				c.protocolError(errBadInputLength)
				return len(data)
			case n > c.maxPkg:
				c.protocolError(codec.ErrPackageTooLarge)
				return len(data)
			}
		}
		if n > len(buf) {
			c.pending = n
			return off
		}
		c.pending = 0
		pkt := buf[:n]
		off += n
		msg, err := c.codec.Decode(pkt)
		if err != nil {
			c.protocolError(err)
			return len(data)
		}
		if msg.Kind != codec.KindNone {
			l.stats.TotalRequest++
			c.handler.OnMessage(c, msg)
			if poisonMessages {
				poison(msg.Data)
			}
		}
	}
	return off
}

var errBadInputLength = errors.New("codec: Input returned a negative length")

func poison(b []byte) {
	for i := range b {
		b[i] = 0xDB
	}
}

// keep stores the unconsumed tail of data as c's inbound buffer.
func (c *Conn) keep(data []byte, used int) {
	rest := data[used:]
	if poisonMessages {
		// Never reuse a buffer whose delivered bytes were poisoned.
		c.in = nil
		if len(rest) > 0 {
			c.in = bytes.Clone(rest)
		}
		return
	}
	switch {
	case len(rest) == 0:
		if cap(c.in) > keptInboundCap {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case len(c.in) > 0 && unsafe.SliceData(data) == unsafe.SliceData(c.in):
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

func (c *Conn) protocolError(err error) {
	l := c.loop
	if errors.Is(err, codec.ErrClose) {
		c.closeNow()
		return
	}
	l.stats.ProtocolErrors++
	l.log.Debug("closing connection on malformed input", zap.Uint64("conn", c.id),
		zap.Stringer("remote", c.remote), zap.Error(err))
	c.closeNow()
}

// peerEOF handles the peer's FIN: output already produced is still written,
// then the connection closes.
func (c *Conn) peerEOF() {
	c.closeNow()
}
