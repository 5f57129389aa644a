package netloop

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

const (
	flagPaused uint8 = 1 << iota
	flagResumeQueued
	flagCounted     // included in Stats.Connections
	flagAdopted     // handed over by another process
	flagCloseQueued // Close was called during the connection's own Encode
	flagNested      // output was written during the connection's own Encode
	flagPaced       // the codec is a codec.Paced: full send buffers hold input instead of dropping sends
	flagHeld        // input is held until the send buffer drains (flagPaced)
)

// DefaultMaxSendBuffer is Workerman's default send buffer limit (1 MiB).
const DefaultMaxSendBuffer = 1 << 20

// Conn is one TCP connection on a loop. Its methods are loop-only unless the
// doc says otherwise. A Conn is a value inside the caller's own connection
// object (see Listener config NewConn), so a connection costs one allocation.
type Conn struct {
	loop    *Loop
	handler Handler
	codec   codec.Codec
	in      []byte // bytes of an incomplete packet
	out     outQueue
	remote  netip.AddrPort

	id           uint64
	bytesRead    uint64
	bytesWritten uint64
	maxSend      int
	maxPkg       int
	pending      int // length of the packet being awaited, from Input
	dialTimer    TimerID
	lastRead     int64        // loop clock of the last read, for idle timeouts
	ln           *Listener    // the listener that accepted it, nil for outbound
	linger       *lingerState // set by Linger: how the coming close goes
	tls          *tlsState    // nil unless accepted by a TLS listener or dialled with DialTLS (tls_linux.go)

	fd     int
	gen    uint32
	events uint32
	status Status
	flags  uint8
	// backlogIdx is c's position in Loop.backlogged plus one, 0 when not
	// there. It fills what would be padding: the send timeout's state lives
	// in Loop.backlogged, so an idle connection pays nothing for it.
	backlogIdx int32
}

var _ codec.Conn = (*Conn)(nil)

// SetHandler sets the receiver of c's events; call it before c is handed to
// a loop.
func (c *Conn) SetHandler(h Handler) { c.handler = h }

// Handler returns c's event receiver.
func (c *Conn) Handler() Handler { return c.handler }

// ID is the connection's number, unique within its loop.
func (c *Conn) ID() uint64 { return c.id }

// Loop is the loop that owns c. Safe from any goroutine.
func (c *Conn) Loop() *Loop { return c.loop }

// Status is where c is in its life cycle.
func (c *Conn) Status() Status { return c.status }

// RemoteAddr is the peer's address (the target, for an outbound connection).
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// SetRemoteAddr replaces the address RemoteAddr reports, e.g. with the
// client address of a PROXY protocol header. Loop-only.
func (c *Conn) SetRemoteAddr(ap netip.AddrPort) { c.remote = ap }

// LocalAddr is the connection's local address, or the zero value once closed.
func (c *Conn) LocalAddr() netip.AddrPort {
	if u := c.udp(); u != nil {
		return u.ln.addr
	}
	if c.fd < 0 {
		return netip.AddrPort{}
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return sockets.SockaddrToAddrPort(sa)
}

// MaxPackageSize is the largest packet c accepts.
func (c *Conn) MaxPackageSize() int { return c.maxPkg }

// SetMaxPackageSize changes c's packet limit.
func (c *Conn) SetMaxPackageSize(n int) {
	if n <= 0 {
		n = codec.DefaultMaxPackageSize
	}
	c.maxPkg = n
}

// MaxSendBuffer is the send buffer limit of c.
func (c *Conn) MaxSendBuffer() int { return c.maxSend }

// SetMaxSendBuffer changes c's send buffer limit.
func (c *Conn) SetMaxSendBuffer(n int) {
	if n <= 0 {
		n = DefaultMaxSendBuffer
	}
	c.maxSend = n
}

// BytesRead and BytesWritten count the bytes moved through the socket.
func (c *Conn) BytesRead() uint64    { return c.bytesRead }
func (c *Conn) BytesWritten() uint64 { return c.bytesWritten }

// SendQueueSize is the number of bytes waiting to be written.
func (c *Conn) SendQueueSize() int {
	n := c.out.size
	if c.loop != nil && c.loop.corkConn == c {
		n += len(c.loop.cork)
	}
	return n
}

// Unread is how many received bytes wait in the kernel, not read yet
// (SIOCINQ); 0 on error or once closed. It is a syscall: for rare checks
// such as deciding whether a connection is quiet enough to close.
func (c *Conn) Unread() int {
	if c.fd < 0 {
		return 0
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}

// IdleFor is how long ago c last received data (or was opened), as of the
// start of the current loop turn.
func (c *Conn) IdleFor() time.Duration { return time.Duration(c.loop.tick - c.lastRead) }

// RecvQueueSize is the number of received bytes not yet framed into a packet.
func (c *Conn) RecvQueueSize() int { return len(c.in) }

// Paused reports whether reading is paused.
func (c *Conn) Paused() bool { return c.flags&flagPaused != 0 }

// Codec is the connection's current codec.
func (c *Conn) Codec() codec.Codec { return c.codec }

// SetCodec switches c to another protocol: the bytes after the current packet
// go to cd.
func (c *Conn) SetCodec(cd codec.Codec) {
	c.codec = cd
	c.notePaced()
	c.pending = 0
	c.noteExpirer()
	if c.loop.corkConn != c && len(c.in) > 0 {
		c.queueResume()
	}
}

func (c *Conn) init(l *Loop, fd int, remote netip.AddrPort, cd codec.Codec) {
	c.loop = l
	c.fd = fd
	c.remote = remote
	c.codec = cd
	c.notePaced()
	if c.id == 0 {
		c.id = l.nextConnID()
	}
	if c.maxPkg <= 0 {
		c.maxPkg = codec.DefaultMaxPackageSize
	}
	if c.maxSend <= 0 {
		c.maxSend = DefaultMaxSendBuffer
	}
}

// notePaced records whether the codec asks for held input instead of
// dropped sends (codec.Paced).
func (c *Conn) notePaced() {
	if _, ok := c.codec.(codec.Paced); ok {
		c.flags |= flagPaced
	} else {
		c.flags &^= flagPaced
	}
}

func (c *Conn) handleEvents(ev uint32) {
	defer c.loop.recoverPanic(c, "connection")
	if c.status == StatusConnecting {
		if c.tls != nil && c.tls.conn != nil {
			c.tlsClientEvents(ev) // connected, handshaking
			return
		}
		c.finishConnect()
		return
	}
	if ev&unix.EPOLLOUT != 0 && !c.out.empty() {
		c.writable()
		if c.status == StatusClosed {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 && c.status == StatusEstablished && c.flags&(flagPaused|flagHeld) == 0 {
		c.readable(ev)
		return
	}
	if c.linger != nil && c.linger.active {
		c.lingerRead() // the read reports a hang-up or an error too
		return
	}
	if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.destroy()
	}
}

func (c *Conn) modEvents(ev uint32) {
	if ev == c.events || c.fd < 0 {
		return
	}
	if err := c.loop.ctl(unix.EPOLL_CTL_MOD, c.fd, ev, c.gen); err != nil {
		c.loop.log.Warn("cannot change connection events", zap.Uint64("conn", c.id), zap.Error(err))
		return
	}
	c.events = ev
}
