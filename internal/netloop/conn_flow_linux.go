package netloop

import (
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// hold stops framing and reading input while a paced connection's send
// buffer is full: its peer is slowed by TCP, and what it already sent waits.
func (c *Conn) hold() {
	c.flags |= flagHeld
	c.modEvents(c.events &^ readEvents)
}

// releaseHeld resumes input held by hold once the send buffer is below its
// limit again.
func (c *Conn) releaseHeld() {
	if c.flags&flagHeld == 0 || c.bufferFull() {
		return
	}
	c.flags &^= flagHeld
	if c.status != StatusEstablished || c.flags&flagPaused != 0 {
		return
	}
	c.modEvents(c.events | readEvents)
	if len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) bufferFull() bool { return c.SendQueueSize() >= c.maxSend }

func (c *Conn) dropFull() SendResult {
	c.loop.stats.SendFail++
	c.handler.OnError(c, SendFail, ErrSendBufferFull)
	return Dropped
}

func (c *Conn) checkFull() {
	if c.SendQueueSize() >= c.maxSend {
		c.handler.OnBufferFull(c)
	}
}

// sendCheckEvery is how often backlogged connections are checked against
// their send timeout: a stalled one closes at most that long after its
// deadline.
const sendCheckEvery = time.Second

// backlog is a connection whose output waits for EPOLLOUT, timed against
// its listener's SendTimeout (outbound connections have none).
type backlog struct {
	c        *Conn
	progress int64 // loop clock of the last write that took bytes, or of the start
	timeout  int64
}

// watchBacklog starts timing c's backlog, which just began. Only
// backlogged connections are in Loop.backlogged, so the once-a-second
// check costs nothing for idle ones however many there are, and a write
// that makes progress costs one store.
func (c *Conn) watchBacklog() {
	if c.backlogIdx != 0 || c.ln == nil || c.ln.cfg.SendTimeout <= 0 {
		return
	}
	l := c.loop
	l.backlogged = append(l.backlogged, backlog{c: c, progress: l.tick, timeout: int64(c.ln.cfg.SendTimeout)})
	c.backlogIdx = int32(len(l.backlogged))
	if l.sendTimer == 0 {
		l.sendTimer = l.addTimer(sendCheckEvery, true, true, l.checkSendTimeouts)
	}
}

// progressed records that the socket took some of c's backlog.
func (c *Conn) progressed() {
	if c.backlogIdx != 0 {
		c.loop.backlogged[c.backlogIdx-1].progress = c.loop.tick
	}
}

// unwatchBacklog forgets c's backlog: it drained, or c closed.
func (c *Conn) unwatchBacklog() {
	i := int(c.backlogIdx) - 1
	if i < 0 {
		return
	}
	l := c.loop
	last := len(l.backlogged) - 1
	if i != last {
		l.backlogged[i] = l.backlogged[last]
		l.backlogged[i].c.backlogIdx = int32(i + 1)
	}
	l.backlogged[last] = backlog{}
	l.backlogged = l.backlogged[:last]
	c.backlogIdx = 0
}

// checkSendTimeouts destroys the backlogged connections whose output made
// no progress for their send timeout: a peer that stopped reading would
// otherwise hold its descriptor, its queued output and a max_connections
// slot for ever. Nothing more can be sent to it, so it is not flushed. The
// timer stops once no connection is backlogged.
func (l *Loop) checkSendTimeouts() {
	now := l.now()
	for i := 0; i < len(l.backlogged); {
		b := l.backlogged[i]
		if now-b.progress < b.timeout {
			i++
			continue
		}
		c := b.c
		l.stats.SendTimeouts++
		l.log.Debug("send timed out; closing connection", zap.Uint64("conn", c.id),
			zap.Stringer("remote", c.remote), zap.Int("queued", c.out.size),
			zap.Duration("send_timeout", time.Duration(b.timeout)))
		c.destroy() // unwatches c, moving another connection to i
	}
	if len(l.backlogged) == 0 && l.sendTimer != 0 {
		l.DelTimer(l.sendTimer)
		l.sendTimer = 0
	}
}

const readEvents = unix.EPOLLIN | unix.EPOLLRDHUP

// PauseRecv stops reading from c until ResumeRecv; the peer is slowed down by
// TCP flow control. Loop-only.
func (c *Conn) PauseRecv() {
	c.flags |= flagPaused
	c.modEvents(c.events &^ readEvents)
}

// ResumeRecv resumes reading, and processes input buffered meanwhile at the
// end of the current loop turn. Loop-only.
func (c *Conn) ResumeRecv() {
	if c.flags&flagPaused == 0 || c.status >= StatusClosing {
		return
	}
	c.flags &^= flagPaused
	if c.flags&flagHeld != 0 {
		return // releaseHeld resumes once the send buffer drains
	}
	if c.status == StatusEstablished {
		c.modEvents(c.events | readEvents)
	}
	if len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) queueResume() {
	if c.flags&flagResumeQueued == 0 {
		c.flags |= flagResumeQueued
		c.loop.resumed = append(c.loop.resumed, c)
	}
}
