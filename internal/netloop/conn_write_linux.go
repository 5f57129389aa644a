package netloop

import (
	"bytes"
	"errors"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// Send encodes payload with the connection's codec and sends it. On the loop
// it reports Sent, Queued or Dropped; off the loop it copies payload, posts
// the send and reports Posted. Safe from any goroutine.
func (c *Conn) Send(payload []byte) SendResult {
	if !c.loop.OnLoop() {
		p := bytes.Clone(payload)
		c.loop.Post(func() { c.send(p) })
		return Posted
	}
	return c.send(payload)
}

// SendValue sends a structured value through a codec that implements
// codec.ValueEncoder. Off the loop it posts and reports Posted; v must not be
// changed afterwards. Safe from any goroutine.
func (c *Conn) SendValue(v any) (SendResult, error) {
	if !c.loop.OnLoop() {
		c.loop.Post(func() { _, _ = c.sendValue(v) })
		return Posted, nil
	}
	return c.sendValue(v)
}

func (c *Conn) send(payload []byte) SendResult {
	if u := c.udp(); u != nil {
		return u.send(payload)
	}
	if c.status >= StatusClosing {
		return Dropped
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		return c.dropFull()
	}
	l := c.loop
	var res SendResult
	// Until the codec returns, what it writes through the Conn is held
	// aside: the encoder appends to the cork (or the scratch buffer), and a
	// write there would land in the middle of its output.
	prev := l.encConn
	l.encConn = c
	if l.corkConn == c && c.out.empty() {
		enc, err := c.codec.Encode(l.cork, payload)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			l.cork = l.cork[:0] // destroyed while encoding: the cork held only its bytes
			res = Dropped
		case err != nil:
			res = c.encodeFailed(err)
		default:
			l.cork = enc
			res = c.corked()
		}
	} else {
		enc, err := c.codec.Encode(l.scratch[:0], payload)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			res = Dropped
		case err != nil:
			res = c.encodeFailed(err)
		default:
			l.scratch = enc
			res = c.write(enc)
		}
	}
	if c.flags&(flagNested|flagCloseQueued) != 0 {
		c.afterEncode()
	}
	return res
}

func (c *Conn) sendValue(v any) (SendResult, error) {
	if u := c.udp(); u != nil {
		return u.sendValue(v)
	}
	if c.status >= StatusClosing {
		return Dropped, nil
	}
	ve, ok := c.codec.(codec.ValueEncoder)
	if !ok {
		if b, isBytes := v.([]byte); isBytes {
			return c.send(b), nil
		}
		if s, isString := v.(string); isString {
			return c.send([]byte(s)), nil
		}
		return Dropped, errors.New("netloop: the connection's protocol cannot send structured values")
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		return c.dropFull(), nil
	}
	l := c.loop
	var res SendResult
	var err error
	prev := l.encConn // see send
	l.encConn = c
	if l.corkConn == c && c.out.empty() {
		var enc []byte
		enc, err = ve.EncodeValue(l.cork, v)
		l.encConn = prev
		switch {
		case c.status == StatusClosed:
			l.cork = l.cork[:0]
			res = Dropped
		case err != nil:
			res = Dropped
		default:
			l.cork = enc
			res = c.corked()
		}
	} else {
		var enc []byte
		enc, err = ve.EncodeValue(l.scratch[:0], v)
		l.encConn = prev
		if err != nil || c.status == StatusClosed {
			res = Dropped
		} else {
			l.scratch = enc
			res = c.write(enc)
		}
	}
	if c.flags&(flagNested|flagCloseQueued) != 0 {
		c.afterEncode()
	}
	return res, err
}

// WriteRaw queues b without encoding it (codec.Conn). Loop-only.
func (c *Conn) WriteRaw(b []byte) bool {
	if u := c.udp(); u != nil {
		return u.write(b) == Sent
	}
	if c.status >= StatusClosing {
		return false
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		c.dropFull()
		return false
	}
	l := c.loop
	if l.encConn == c {
		if c.flags&flagCloseQueued != 0 {
			return false
		}
		c.nest()
		l.nested = append(l.nested, b...)
		return true
	}
	if l.corkConn == c && c.out.empty() {
		l.cork = append(l.cork, b...)
		c.corked()
		return true
	}
	return c.write(b) != Dropped
}

func (c *Conn) corked() SendResult {
	l := c.loop
	if len(l.cork) >= corkLimit {
		c.flushCork()
		if c.status == StatusClosed {
			return Dropped
		}
	}
	c.checkFull()
	return Sent
}

func (c *Conn) encodeFailed(err error) SendResult {
	c.loop.stats.SendFail++
	c.handler.OnError(c, SendFail, err)
	return Dropped
}

// write sends b now when nothing is queued ahead of it, and queues what the
// socket does not take.
func (c *Conn) write(b []byte) SendResult {
	if c.sealing() {
		b = c.tlsSeal(b)
	}
	return c.writeWire(b)
}

// writeWire is write for bytes as they go on the wire (TLS records, or
// plain TCP).
func (c *Conn) writeWire(b []byte) SendResult {
	if c.status != StatusEstablished || !c.out.empty() {
		c.out.append(b)
		c.checkFull()
		return Queued
	}
	n, err := writeRaw(c.fd, b)
	if n > 0 {
		c.bytesWritten += uint64(n)
	} else {
		n = 0
	}
	if n == len(b) {
		return Sent
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.loop.stats.SendFail++
		c.handler.OnError(c, SendFail, ErrPeerClosed)
		c.destroy()
		return Dropped
	}
	c.out.append(b[n:])
	c.setWriteInterest(true)
	c.checkFull()
	return Queued
}

// flushCork writes the output corked for c during input processing.
func (c *Conn) flushCork() {
	l := c.loop
	if len(l.cork) == 0 {
		return
	}
	b := l.cork
	l.cork = l.cork[:0]
	if c.status == StatusClosed {
		return
	}
	c.writeQuiet(b)
	if cap(l.cork) > 4*corkLimit {
		l.cork = nil
	}
}

// writeQuiet is write for output already accepted as Sent: a failure closes
// the connection without another OnError.
func (c *Conn) writeQuiet(b []byte) {
	if c.sealing() {
		b = c.tlsSeal(b)
	}
	c.writeWireQuiet(b)
}

// writeWireQuiet is writeQuiet for bytes as they go on the wire.
func (c *Conn) writeWireQuiet(b []byte) {
	if !c.out.empty() || c.status != StatusEstablished && c.status != StatusClosing {
		c.out.append(b)
		return
	}
	n, err := writeRaw(c.fd, b)
	if n > 0 {
		c.bytesWritten += uint64(n)
	} else {
		n = 0
	}
	if n == len(b) {
		return
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		c.loop.stats.SendFail++
		c.destroy()
		return
	}
	c.out.append(b[n:])
	c.setWriteInterest(true)
}

// writable writes the backlog after EPOLLOUT.
func (c *Conn) writable() {
	drained, alive := c.flushOut()
	if !alive {
		return
	}
	c.releaseHeld()
	if !drained {
		return
	}
	c.setWriteInterest(false)
	c.handler.OnBufferDrain(c)
	if c.status == StatusClosing && c.out.empty() {
		c.finishClose()
	}
}

// flushOut writes the backlog, bytes with writev and file regions with
// sendfile, in order, until it is empty or the socket is full. alive is false
// when a failure destroyed c; drained is false when output is left.
func (c *Conn) flushOut() (drained, alive bool) {
	l := c.loop
	budget := sendfileTurn
	for !c.out.empty() {
		if seg := c.out.dueFile(); seg != nil {
			if budget <= 0 {
				return false, true
			}
			var n int
			var full, alive bool
			if c.tls != nil {
				n, full, alive = c.tlsSendFile(seg, budget)
			} else {
				n, full, alive = c.sendfile(seg, budget)
			}
			if full || !alive {
				return false, alive
			}
			budget -= n
			continue
		}
		want := c.out.memAhead()
		iov := l.iovecs[:0]
		total := 0
		for i, ch := range c.out.chunks {
			if i == maxIovecs || total == want {
				break
			}
			b := *ch
			if i == 0 {
				b = b[c.out.head:]
			}
			if len(b) > want-total {
				b = b[:want-total]
			}
			iov = append(iov, b)
			total += len(b)
		}
		n, err := l.writev(c.fd, iov)
		clear(iov)
		l.iovecs = iov[:0]
		if n > 0 {
			c.bytesWritten += uint64(n)
			c.progressed()
			c.out.consume(n)
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return false, true
			}
			l.stats.SendFail++
			l.log.Debug("write failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
			c.destroy()
			return false, false
		}
		if n < total {
			return false, true // a short write: the socket is full
		}
	}
	return true, true
}

func (l *Loop) writev(fd int, bufs [][]byte) (int, error) {
	if len(bufs) == 1 {
		return writeRaw(fd, bufs[0])
	}
	n, iov, err := writevRaw(fd, bufs, l.iov)
	l.iov = iov
	return n, err
}

func (c *Conn) setWriteInterest(on bool) {
	ev := c.events &^ unix.EPOLLOUT
	if on {
		ev |= unix.EPOLLOUT
		c.watchBacklog()
	} else {
		c.unwatchBacklog()
	}
	c.modEvents(ev)
}
