package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// ErrNotMovable reports a connection that cannot be handed over now: its
// codec does not opt in (codec.Migrator), it is mid-request, or output is
// still queued.
var ErrNotMovable = errors.New("netloop: connection cannot be handed over now")

// Handover is what moves with a connection to another process.
type Handover struct {
	FD      int    // the socket, owned by the receiver of the Handover
	Pending []byte // bytes read but not framed yet
	State   []byte // the codec's state (codec.Migrator)
}

// Detach takes c out of the loop without closing its socket and without
// OnClose, for another process to adopt it. Only an established, idle
// connection whose codec is a codec.Migrator moves. Loop-only.
func (c *Conn) Detach() (Handover, error) {
	m, ok := c.codec.(codec.Migrator)
	// A TLS connection's state lives in its crypto/tls.Conn, which cannot
	// be serialised: it stays and is drained like a websocket.
	if !ok || c.tls != nil || c.status != StatusEstablished || !c.out.empty() || c.loop.corkConn == c || c.pending != 0 {
		return Handover{}, ErrNotMovable
	}
	state, ok := m.Migrate()
	if !ok {
		return Handover{}, ErrNotMovable
	}
	h := Handover{Pending: bytes.Clone(c.in), State: state}
	h.FD = c.unregister()
	if cl, ok := c.codec.(io.Closer); ok {
		_ = cl.Close() // nothing on the loop can act on a release failing
	}
	return h, nil
}

// Adopted reports whether c came from another process (Listener.Adopt);
// handlers skip OnConnect for it.
func (c *Conn) Adopted() bool { return c.flags&flagAdopted != 0 }

// Adopt takes over a connection detached by another process (Conn.Detach)
// as if this listener had accepted it: a new ID, the codec resumed from
// h.State, h.Pending framed first. OnOpen runs with Conn.Adopted true. The
// listener owns h.FD from now on, also on error. Loop-only.
func (ln *Listener) Adopt(h Handover) (*Conn, error) {
	l := ln.loop
	if err := unix.SetNonblock(h.FD, true); err != nil {
		_ = unix.Close(h.FD)
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	sa, err := unix.Getpeername(h.FD)
	if err != nil {
		_ = unix.Close(h.FD)
		return nil, os.NewSyscallError("getpeername", err)
	}
	c := ln.cfg.NewConn()
	if c.maxPkg <= 0 {
		c.maxPkg = ln.cfg.MaxPackageSize
	}
	if c.maxSend <= 0 {
		c.maxSend = ln.cfg.MaxSendBuffer
	}
	c.init(l, h.FD, sockets.SockaddrToAddrPort(sa), nil)
	c.status = StatusEstablished
	c.lastRead = l.tick
	c.codec = ln.cfg.Protocol.NewCodec(c)
	c.notePaced()
	m, ok := c.codec.(codec.Migrator)
	if !ok {
		_ = unix.Close(h.FD)
		c.fd, c.status = -1, StatusClosed
		return nil, fmt.Errorf("adopt: protocol does not support hand-over: %w", ErrNotMovable)
	}
	if err := m.Resume(h.State); err != nil {
		_ = unix.Close(h.FD)
		c.fd, c.status = -1, StatusClosed
		return nil, fmt.Errorf("adopt: resume codec state: %w", err)
	}
	if err := l.register(c, readEvents); err != nil {
		_ = unix.Close(h.FD)
		c.fd, c.status = -1, StatusClosed
		return nil, err
	}
	c.flags |= flagCounted | flagAdopted
	l.stats.Connections++
	c.ln = ln
	ln.live++
	c.noteExpirer()
	c.in = h.Pending
	func() {
		defer l.recoverPanic(c, "OnOpen")
		c.handler.OnOpen(c)
	}()
	if len(c.in) > 0 && c.status == StatusEstablished {
		c.queueResume()
	}
	return c, nil
}
