package netloop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// PrepareOutbound makes c an outbound connection of l that speaks proto,
// in status Initial: output sent now is queued (within the send buffer limit)
// and written once Dial connects. A closed outbound connection is prepared
// again to reconnect; it keeps its ID. Loop-only.
func (c *Conn) PrepareOutbound(l *Loop, proto codec.Protocol) {
	c.init(l, -1, c.remote, nil)
	c.status = StatusInitial
	c.codec = proto.NewCodec(c)
	c.notePaced()
}

// Dial starts a non-blocking connect of the prepared connection c to addr.
// The outcome is always reported later, never from inside Dial: OnOpen on
// success; OnError(ConnectFail) then OnClose on failure, including when
// timeout (if > 0) passes first. Loop-only.
func (l *Loop) Dial(c *Conn, addr netip.AddrPort, timeout time.Duration) {
	l.dial(c, addr, timeout, nil)
}

func (l *Loop) dial(c *Conn, addr netip.AddrPort, timeout time.Duration, tlsCfg *tls.Config) {
	if c.status != StatusInitial || c.loop != l {
		return
	}
	c.tls = nil // a reconnect starts a new session
	if tlsCfg != nil {
		c.tls = &tlsState{client: true, cfg: tlsCfg}
	}
	c.remote = addr
	domain := unix.AF_INET
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		domain = unix.AF_INET6
	}
	l.connect(c, domain, sockets.AddrPortToSockaddr(addr), addr.String(), timeout)
}

// DialUnix is Dial to the Unix stream socket at path. The connection has
// no remote address (RemoteAddr is the zero value), as an accepted Unix
// one. Loop-only.
func (l *Loop) DialUnix(c *Conn, path string, timeout time.Duration) {
	if c.status != StatusInitial || c.loop != l {
		return
	}
	c.tls = nil
	c.remote = netip.AddrPort{}
	l.connect(c, unix.AF_UNIX, &unix.SockaddrUnix{Name: path}, path, timeout)
}

// connect opens a socket of domain and connects it to sa; name is the
// peer in error messages.
func (l *Loop) connect(c *Conn, domain int, sa unix.Sockaddr, name string, timeout time.Duration) {
	c.status = StatusConnecting
	fail := func(err error) {
		// Report on the next turn, so callers never see callbacks from Dial.
		l.Post(func() {
			if c.status == StatusConnecting && c.fd < 0 {
				c.connectFailed(err)
			}
		})
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fail(os.NewSyscallError("socket", err))
		return
	}
	// A Unix socket connects at once or fails: its EAGAIN means the
	// listener's backlog is full, not in progress, and is reported as the
	// failure it is.
	err = unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) && !errors.Is(err, unix.EINTR) {
		unix.Close(fd)
		fail(fmt.Errorf("connect %s: %w", name, err))
		return
	}
	c.fd = fd
	if err := l.register(c, unix.EPOLLOUT); err != nil {
		unix.Close(fd)
		c.fd = -1
		fail(err)
		return
	}
	c.flags |= flagCounted
	l.stats.Connections++
	if timeout > 0 {
		c.dialTimer = l.addInternalTimer(timeout, func() {
			c.dialTimer = 0
			switch {
			case c.status != StatusConnecting:
			case c.tls != nil && c.tls.conn != nil:
				// The timeout covers a TLS client's handshake too.
				l.stats.TLSHandshakeTimeouts++
				c.connectFailed(fmt.Errorf("TLS handshake with %s: %w after %s", name, ErrConnectTimeout, timeout))
			default:
				c.connectFailed(fmt.Errorf("connect %s: %w after %s", name, ErrConnectTimeout, timeout))
			}
		})
	}
}

// FailConnect reports that a prepared connection could not be dialled (its
// name did not resolve): OnError(ConnectFail), then OnClose. Loop-only.
func (c *Conn) FailConnect(err error) {
	if c.status == StatusInitial || c.status == StatusConnecting {
		c.connectFailed(err)
	}
}

func (c *Conn) finishConnect() {
	l := c.loop
	soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err != nil {
		c.connectFailed(fmt.Errorf("connect %s: %w", c.remote, err))
		return
	}
	_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if c.tls != nil {
		// Still connecting until the handshake is done; the dial timer
		// keeps running.
		c.tlsClientStart()
		return
	}
	if c.dialTimer != 0 {
		l.DelTimer(c.dialTimer)
		c.dialTimer = 0
	}
	c.status = StatusEstablished
	c.lastRead = l.tick
	c.openEstablished()
}

// openEstablished hands a connection that just got through its connect
// (and TLS handshake) to its protocol and handler: it watches for input,
// and for output when some was queued meanwhile, opens the codec
// (codec.Opener) and runs OnOpen. It reports false when the codec refused
// to open, which closed c.
func (c *Conn) openEstablished() bool {
	ev := uint32(readEvents)
	if !c.out.empty() {
		ev |= unix.EPOLLOUT
	}
	c.modEvents(ev)
	if op, ok := c.codec.(codec.Opener); ok {
		if err := op.Open(); err != nil {
			c.protocolError(err)
			return false
		}
	}
	c.handler.OnOpen(c)
	return true
}

func (c *Conn) connectFailed(err error) {
	defer c.loop.recoverPanic(c, "connect")
	c.handler.OnError(c, ConnectFail, err)
	c.destroy()
}
