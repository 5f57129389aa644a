package netloop

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// ListenerConfig says how a listener's connections are built.
type ListenerConfig struct {
	// Protocol makes each connection's codec.
	Protocol codec.Protocol
	// NewConn returns the Conn for an accepted connection, with its handler
	// set (Conn.SetHandler); usually a field of the caller's own connection
	// object. Required.
	NewConn func() *Conn
	// Shared marks a socket that other processes accept from too; it is
	// registered with EPOLLEXCLUSIVE so a connection wakes one of them.
	Shared bool
	// MaxPackageSize and MaxSendBuffer are the limits of new connections,
	// unless NewConn set them.
	MaxPackageSize int
	MaxSendBuffer  int
	// SendTimeout destroys a connection whose queued output has made no
	// progress (no byte taken by the socket) for that long: its peer
	// stopped reading. 0: never. Checked once a second.
	SendTimeout time.Duration
	// MaxConns caps the open connections of this listener in this process
	// (0: no cap). Above it a connection is accepted and closed at once, so
	// the client learns at once instead of waiting in the backlog, and it is
	// counted in Stats.Rejected.
	MaxConns int
	// OnExpirer runs once, on the loop, when a connection of this listener
	// first gets a codec implementing codec.Expirer: the caller then starts
	// asking such connections whether they expired, and never bothers for
	// listeners whose protocols have no timeouts of their own.
	OnExpirer func()
	// TLS, when set, makes the connections TLS server connections: they
	// are opened (codec, OnOpen) once their handshake succeeds.
	TLS *TLSServer
}

// Listener accepts connections from one listening socket.
type Listener struct {
	loop   *Loop
	cfg    ListenerConfig
	fd     int
	addr   netip.AddrPort
	paused bool
	closed bool
	// starved is set from the first EMFILE (or alike) of a shortage until
	// an accept gets through again; retries counts the pauses meanwhile
	// and starvedAt is when it began. One line is logged at each end of a
	// shortage, not one per retry.
	starved   bool
	retries   uint64
	starvedAt time.Time
	accepted  uint64
	live      int  // open connections accepted here
	expirer   bool // a connection had a codec.Expirer codec; OnExpirer ran
	// udp is set for a UDP socket (AddUDP), which reads datagrams instead
	// of accepting.
	udp *udpSocket
}

// AddListener registers the listening socket fd; the loop owns it from now
// on and closes it when the listener or the loop closes. Loop-only (or before
// Run).
func (l *Loop) AddListener(fd int, cfg ListenerConfig) (*Listener, error) {
	if cfg.Protocol == nil || cfg.NewConn == nil {
		return nil, errors.New("netloop: listener needs a protocol and NewConn")
	}
	if cfg.TLS != nil && cfg.TLS.Config == nil {
		return nil, errors.New("netloop: a TLS listener needs a tls.Config")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	ln := &Listener{loop: l, cfg: cfg, fd: fd}
	if sa, err := unix.Getsockname(fd); err == nil {
		ln.addr = sockets.SockaddrToAddrPort(sa)
	}
	if err := ln.arm(); err != nil {
		return nil, err
	}
	l.listeners[fd] = ln
	return ln, nil
}

func (ln *Listener) arm() error {
	events := uint32(unix.EPOLLIN)
	if ln.cfg.Shared {
		events |= unix.EPOLLEXCLUSIVE
	}
	return ln.loop.ctl(unix.EPOLL_CTL_ADD, ln.fd, events, 0)
}

// Addr is the bound address (with the real port when listening on port 0).
func (ln *Listener) Addr() netip.AddrPort { return ln.addr }

// Accepted counts the connections this listener accepted.
func (ln *Listener) Accepted() uint64 { return ln.accepted }

// accept takes at most AcceptBatch connections per wakeup: with a shared
// listener the rest of a burst is left to sibling processes, and with level
// triggering this loop is woken again for whatever is left.
func (ln *Listener) accept() {
	if ln.udp != nil {
		ln.udp.read()
		return
	}
	l := ln.loop
	for range l.cfg.AcceptBatch {
		fd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
				ln.endShortage()
				return
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EPROTO):
				continue
			case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE),
				errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
				ln.pauseAccept(err)
				return
			default:
				l.log.Error("accept4 failed", zap.Stringer("listen", ln.addr), zap.String("errno", errnoName(err)))
				return
			}
		}
		ln.accepted++
		l.stats.Accepted++
		if ln.cfg.MaxConns > 0 && ln.live >= ln.cfg.MaxConns {
			l.stats.Rejected++
			_ = unix.Close(fd)
			continue
		}
		ln.adopt(fd, sockets.SockaddrToAddrPort(sa), sa)
	}
	// A whole batch without running short: descriptors are plentiful
	// again. A few accepts between two EMFILEs (descriptors freed one by
	// one as connections close) are not the end of the shortage.
	ln.endShortage()
}

func (ln *Listener) adopt(fd int, remote netip.AddrPort, sa unix.Sockaddr) {
	l := ln.loop
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	c := ln.cfg.NewConn()
	if c.maxPkg <= 0 {
		c.maxPkg = ln.cfg.MaxPackageSize
	}
	if c.maxSend <= 0 {
		c.maxSend = ln.cfg.MaxSendBuffer
	}
	c.init(l, fd, remote, nil)
	c.status = StatusEstablished
	c.lastRead = l.tick
	if err := l.register(c, readEvents); err != nil {
		l.log.Error("cannot register connection", zap.Error(err))
		_ = unix.Close(fd)
		c.fd = -1
		c.status = StatusClosed
		return
	}
	c.flags |= flagCounted
	l.stats.Connections++
	l.noteChurn()
	c.ln = ln
	ln.live++
	if ln.cfg.TLS != nil {
		c.initTLS(ln.cfg.TLS)
		return
	}
	ln.open(c)
}

// open creates the codec and runs OnOpen under the panic guard.
func (ln *Listener) open(c *Conn) {
	defer ln.loop.recoverPanic(c, "OnOpen")
	c.codec = ln.cfg.Protocol.NewCodec(c)
	c.notePaced()
	c.noteExpirer()
	c.handler.OnOpen(c)
}

// noteExpirer runs the listener's OnExpirer when c's codec is the first of
// its connections to implement codec.Expirer.
func (c *Conn) noteExpirer() {
	ln := c.ln
	if ln == nil || ln.expirer || ln.cfg.OnExpirer == nil {
		return
	}
	if _, ok := c.codec.(codec.Expirer); ok {
		ln.expirer = true
		ln.cfg.OnExpirer()
	}
}

// pauseAccept takes the listener out of epoll for AcceptPause when the
// process is out of descriptors or memory: spinning on a readable listener
// that cannot be accepted from would burn the CPU, and ending the loop would
// drop every open connection.
func (ln *Listener) pauseAccept(cause error) {
	l := ln.loop
	l.stats.AcceptPauses++
	if ln.paused {
		return
	}
	// A shortage lasts as long as the connections holding the descriptors:
	// a line per retry would be ten a second for all that time.
	ln.retries++
	if !ln.starved {
		ln.starved, ln.starvedAt = true, time.Now()
		l.log.Warn("accept paused: out of resources", zap.Stringer("listen", ln.addr),
			zap.String("errno", errnoName(cause)), zap.Duration("retry_every", l.cfg.AcceptPause))
	}
	if err := l.ctl(unix.EPOLL_CTL_DEL, ln.fd, 0, 0); err != nil {
		l.log.Error("cannot pause listener", zap.Error(err))
		return
	}
	ln.paused = true
	l.addInternalTimer(l.cfg.AcceptPause, func() {
		if ln.closed || !ln.paused {
			return
		}
		ln.paused = false
		if err := ln.arm(); err != nil {
			l.log.Error("cannot resume listener", zap.Error(err))
			return
		}
		// Try at once rather than wait for epoll: with nothing waiting
		// (EAGAIN) the shortage is over as far as accepting goes, and the
		// line saying so comes now, not at the next client.
		ln.accept()
	})
}

// endShortage logs, once, that accepting works again after a shortage of
// descriptors, with how long it lasted and how many pauses it took.
func (ln *Listener) endShortage() {
	if !ln.starved {
		return
	}
	ln.starved = false
	ln.loop.log.Info("accept resumed", zap.Stringer("listen", ln.addr),
		zap.Uint64("pauses", ln.retries), zap.Duration("paused_for", time.Since(ln.starvedAt)))
	ln.retries = 0
}

// Close stops accepting and closes the listening socket. Loop-only.
func (ln *Listener) Close() {
	if ln.closed {
		return
	}
	delete(ln.loop.listeners, ln.fd)
	ln.close()
}

func (ln *Listener) close() {
	ln.closed = true
	if !ln.paused {
		_ = ln.loop.ctl(unix.EPOLL_CTL_DEL, ln.fd, 0, 0)
	}
	_ = unix.Close(ln.fd)
}

func (ln *Listener) String() string { return fmt.Sprintf("listener %s", ln.addr) }
