package netloop

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// A lingering close (nginx's lingering_close, Apache's lingering_close): a
// socket closed while the peer's input is still unread makes the kernel send
// a reset, which throws away output the peer has not acknowledged yet — an
// error response sent right before closing on a client that was still
// sending its request body is lost, and the client sees "connection reset"
// instead of the 400. So the connection first half-closes, then reads and
// discards what the peer still sends, and closes once the peer is done.
// These bounds keep a peer that never stops from holding the connection.
const (
	// lingerTimeout is the longest a connection lingers; the client has
	// had the response for a round trip long before.
	lingerTimeout = 2 * time.Second
	// lingerMaxDiscard is how much input is read and thrown away. Past it
	// the connection waits, no longer reading, only for the peer to
	// acknowledge the output (then a reset cannot harm it), within
	// lingerTimeout.
	lingerMaxDiscard = 64 << 10
	// lingerPoll is how often that acknowledgement is checked: the kernel
	// has no event for it.
	lingerPoll = 10 * time.Millisecond
)

type lingerState struct {
	deadline  int64 // loop clock
	timer     TimerID
	discarded int
	active    bool // half-closed and waiting for the peer
}

// Linger makes c's coming close a lingering one: once its output is written,
// c half-closes, discards input until the peer's FIN (at most
// lingerMaxDiscard bytes, for at most lingerTimeout), and only then closes;
// OnClose runs then. Destroy still closes at once. Loop-only.
func (c *Conn) Linger() {
	if c.status == StatusClosed || c.linger != nil {
		return
	}
	c.linger = &lingerState{}
}

// startLinger half-closes c, whose output is all written, and waits for the
// peer.
func (c *Conn) startLinger() {
	l := c.loop
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		c.destroy() // not connected any more (the peer reset): nothing to protect
		return
	}
	ls := c.linger
	ls.active = true
	ls.deadline = l.now() + int64(lingerTimeout)
	ls.timer = l.addInternalTimer(lingerTimeout, func() {
		ls.timer = 0
		c.destroy()
	})
	c.modEvents(readEvents)
}

// lingerRead discards what the peer sends while c lingers.
func (c *Conn) lingerRead() {
	l := c.loop
	ls := c.linger
	n, err := readRaw(c.fd, l.rbuf)
	switch {
	case n > 0:
		c.bytesRead += uint64(n)
		ls.discarded += n
		if ls.discarded >= lingerMaxDiscard {
			c.lingerSettle()
		}
	case n == 0 && err == nil:
		c.destroy() // the peer's FIN: nothing unread, so no reset
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
	default:
		c.destroy()
	}
}

// lingerSettle stops reading from a peer that keeps sending, and closes c as
// soon as the peer has acknowledged all of c's output, or at the deadline.
func (c *Conn) lingerSettle() {
	l := c.loop
	if c.unacked() == 0 {
		c.destroy()
		return
	}
	// Out of epoll rather than with an empty event mask: a hang-up would
	// still be reported, level-triggered, on every turn.
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	c.events = 0
	ls := c.linger
	if ls.timer != 0 {
		l.DelTimer(ls.timer)
	}
	ls.timer = l.addTimer(lingerPoll, true, true, func() {
		if c.unacked() == 0 || l.now() >= ls.deadline {
			c.destroy() // deletes this timer
		}
	})
}

// unacked is how many bytes of output (and the FIN) the peer has not
// acknowledged yet, -1 when unknown.
func (c *Conn) unacked() int {
	if c.fd < 0 {
		return 0
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCOUTQ)
	if err != nil {
		return -1
	}
	return n
}
