package netloop

import (
	"errors"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// WriteFile queues length bytes of f from offset after everything written
// so far, to be sent with sendfile(2) (codec.Conn). c owns f from now on: it
// is closed once sent, when c closes, or at once when the write is dropped
// (false: c is closing, or its send buffer is full). A file shorter than
// offset+length destroys c when its end is reached. Loop-only.
func (c *Conn) WriteFile(f *os.File, offset, length int64) bool {
	if f == nil {
		return false
	}
	if offset < 0 || length < 0 || c.status >= StatusClosing {
		_ = f.Close()
		return false
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		c.dropFull()
		_ = f.Close()
		return false
	}
	l := c.loop
	if l.encConn == c {
		if c.flags&flagCloseQueued != 0 {
			_ = f.Close()
			return false
		}
		c.nest()
		l.nestedFiles = append(l.nestedFiles, nestedFile{f: f, off: offset, length: length, at: len(l.nested)})
		return true
	}
	c.queueFile(f, offset, length)
	if c.status == StatusClosed {
		return false
	}
	c.checkFull()
	return true
}

// queueFile appends a file region to c's backlog, after the corked output,
// and starts sending it when nothing was queued ahead of it.
func (c *Conn) queueFile(f *os.File, off, length int64) {
	l := c.loop
	if length == 0 || c.status == StatusClosed {
		_ = f.Close()
		return
	}
	if l.corkConn == c {
		c.flushCork() // the corked bytes come first
		if c.status == StatusClosed {
			_ = f.Close()
			return
		}
	}
	idle := c.out.empty()
	c.out.appendFile(f, off, length)
	if idle && (c.status == StatusEstablished || c.status == StatusClosing) {
		if drained, alive := c.flushOut(); alive && !drained {
			c.setWriteInterest(true)
		}
	}
}

const (
	// sendfileTurn caps the file bytes one connection sends per loop turn:
	// to a fast peer sendfile keeps succeeding, and a large file would hold
	// the loop from every other connection. What is left goes on the next
	// EPOLLOUT (nginx's sendfile_max_chunk is the same idea, at 2m).
	sendfileTurn = 2 << 20
)

// sendfile sends at most budget bytes of seg, the backlog's next region
// (flushOut). sent is what the socket took; full is true when it took no
// more; alive is false when a failure destroyed c.
func (c *Conn) sendfile(seg *fileSeg, budget int) (sent int, full, alive bool) {
	l := c.loop
	left := seg.left
	count := int(min(left, int64(budget)))
	off := seg.off
	// sendfile may read the file from disk, so it goes through
	// the scheduler-aware syscall path, unlike read/write/writev.
	n, err := unix.Sendfile(c.fd, seg.fd, &off, count)
	if n > 0 {
		c.bytesWritten += uint64(n)
		c.progressed()
		sent = n
		c.out.fileSent(int64(n))
	}
	switch {
	case err == nil && n == 0:
		// The file ended before the region did. The peer has part
		// of a message and no way to tell: end the connection.
		l.stats.SendFail++
		l.log.Debug("file shorter than the region queued; closing connection",
			zap.Uint64("conn", c.id), zap.Int64("missing", left))
		c.destroy()
		return sent, false, false
	case err == nil:
	case errors.Is(err, unix.EAGAIN):
		return sent, true, true
	case errors.Is(err, unix.EINTR):
	default:
		l.stats.SendFail++
		l.log.Debug("sendfile failed", zap.Uint64("conn", c.id), zap.String("errno", errnoName(err)))
		c.destroy()
		return sent, false, false
	}
	return sent, false, true
}
