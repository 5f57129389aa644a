package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// udpBatch bounds the datagrams read per wakeup. A socket is read until
// EAGAIN, but a flood must not keep timers and the other sockets waiting:
// epoll is level-triggered, so what is left wakes the loop again at once.
const udpBatch = 1024

// udpSocket is the datagram side of a Listener made by AddUDP. A UDP socket
// has no connections: one Conn, peer, stands for the sender of each datagram
// in turn, so serving a datagram allocates nothing. peer's RemoteAddr is the
// current sender's; its Send answers with one datagram.
type udpSocket struct {
	ln        *Listener
	peer      *Conn
	family    uint16 // the socket's address family, for sendto's address
	connected bool   // a client's socket, connect(2)ed to its one peer

	// Raw socket addresses of the last recvfrom and the next sendto: the
	// kernel's form, kept here so no Sockaddr is allocated per datagram.
	from    unix.RawSockaddrAny
	fromLen uint32
	to      unix.RawSockaddrInet6
}

// AddUDP registers the bound UDP socket fd (sockets.ListenUDP; or a
// connected one, for a client). It is a Listener in that the loop owns and
// closes it like one and Close stops it, but it accepts nothing: each
// datagram is framed on its own by cfg.Protocol (what one datagram leaves
// unframed is dropped, never joined with the next) and delivered to the
// handler of the Conn that cfg.NewConn returns once, whose RemoteAddr is the
// datagram's sender during the call. That Conn gets no OnOpen or OnClose
// (Workerman's UDP has no connect or close events) and cannot be closed;
// its sends go to the current sender. On a connected socket a datagram the
// peer refused (ICMP port unreachable) or a failed send is also reported to
// that Conn's OnError as SendFail. SendTimeout and MaxConns do not apply.
// Loop-only (or before Run).
func (l *Loop) AddUDP(fd int, cfg ListenerConfig) (*Listener, error) {
	if cfg.Protocol == nil || cfg.NewConn == nil {
		return nil, errors.New("netloop: UDP socket needs a protocol and NewConn")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	ln := &Listener{loop: l, cfg: cfg, fd: fd, addr: sockets.SockaddrToAddrPort(sa)}
	u := &udpSocket{ln: ln, family: unix.AF_INET}
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		u.family = unix.AF_INET6
	}
	var remote netip.AddrPort
	if pa, err := unix.Getpeername(fd); err == nil {
		u.connected = true
		remote = sockets.SockaddrToAddrPort(pa)
	}
	c := cfg.NewConn()
	if c.maxPkg <= 0 {
		c.maxPkg = cfg.MaxPackageSize
	}
	if c.maxSend <= 0 {
		c.maxSend = cfg.MaxSendBuffer
	}
	// fd -1: nothing on the Conn's own paths may reach the socket, which
	// the listener owns.
	c.init(l, -1, remote, nil)
	c.status = StatusEstablished
	c.lastRead = l.tick
	c.ln = ln
	c.codec = cfg.Protocol.NewCodec(c)
	c.notePaced()
	u.peer = c
	ln.udp = u
	if err := ln.arm(); err != nil {
		return nil, err
	}
	l.listeners[fd] = ln
	return ln, nil
}

// udp is the UDP socket c answers through, nil for a stream connection.
// Loop-only.
func (c *Conn) udp() *udpSocket {
	if c.ln == nil {
		return nil
	}
	return c.ln.udp
}

// Peer is the Conn standing for the senders of a UDP socket's datagrams;
// nil for a stream listener.
func (ln *Listener) Peer() *Conn {
	if ln.udp == nil {
		return nil
	}
	return ln.udp.peer
}

// read drains the socket: every datagram waiting (up to udpBatch) goes
// through the one read buffer of the loop.
func (u *udpSocket) read() {
	ln, c := u.ln, u.peer
	l := ln.loop
	for range udpBatch {
		n, err := u.recv(l.rbuf)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
				return
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.ECONNREFUSED):
				// A connected client's earlier datagram met a closed port
				// (ICMP port unreachable): the kernel reports it once, here;
				// the socket lives on, since the peer may come up later.
				l.log.Debug("udp peer refused a datagram", zap.Stringer("remote", c.remote))
				l.stats.SendFail++
				u.reportError(fmt.Errorf("udp %s refused a datagram: %w", c.remote, err))
				if ln.closed {
					return // closed by OnError
				}
				continue
			default:
				l.log.Warn("udp recvfrom failed", zap.Stringer("listen", ln.addr), zap.String("errno", errnoName(err)))
				return
			}
		}
		l.stats.Datagrams++
		c.bytesRead += uint64(n)
		c.lastRead = l.tick
		// MSG_TRUNC makes n the datagram's real length: a datagram larger
		// than the buffer arrived cut, and is no more deliverable than one
		// over the packet limit.
		if n > len(l.rbuf) || n > c.maxPkg {
			l.stats.DatagramsDropped++
			l.log.Debug("udp datagram dropped: too large", zap.Int("bytes", n),
				zap.Int("max_package_size", c.maxPkg), zap.Stringer("listen", ln.addr))
			continue
		}
		if !u.connected {
			c.remote = u.sender()
		}
		u.deliver(l.rbuf[:n])
		if ln.closed {
			return // closed by a callback
		}
	}
}

// recv reads one datagram into p and the sender's address into u.from.
func (u *udpSocket) recv(p []byte) (int, error) {
	u.fromLen = uint32(unsafe.Sizeof(u.from))
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(u.ln.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_TRUNC, uintptr(unsafe.Pointer(&u.from)), uintptr(unsafe.Pointer(&u.fromLen)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// sender decodes u.from; a v4-mapped address comes out as the IPv4 one, as
// for TCP peers.
func (u *udpSocket) sender() netip.AddrPort {
	switch u.from.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&u.from))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), beUint16(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&u.from))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), beUint16(sa.Port))
	}
	return netip.AddrPort{}
}

// beUint16 reads a port, which the kernel keeps in network byte order.
func beUint16(v uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&v))
	return uint16(b[0])<<8 | uint16(b[1])
}

func putBEUint16(dst *uint16, v uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(v>>8), byte(v)
}

// deliver frames one datagram as Workerman does: packet after packet while
// the codec finds one; what it cannot frame (an incomplete last line, a
// frame longer than the datagram) or fails to decode is dropped, since
// datagrams are not a stream and the rest will never come.
func (u *udpSocket) deliver(data []byte) {
	c := u.peer
	l := c.loop
	// A panic ends this datagram only: the socket serves every sender.
	defer l.recoverPanic(nil, "udp datagram")
	if poisonMessages {
		data = bytes.Clone(data)
	}
	for off := 0; off < len(data) && !u.ln.closed; {
		buf := data[off:]
		n, err := c.codec.Input(buf)
		if err != nil || n <= 0 || n > len(buf) {
			l.stats.DatagramsDropped++
			return
		}
		off += n
		msg, err := c.codec.Decode(buf[:n])
		if err != nil {
			l.stats.DatagramsDropped++
			return
		}
		if msg.Kind != codec.KindNone {
			l.stats.TotalRequest++
			c.handler.OnMessage(c, msg)
			if poisonMessages {
				poison(msg.Data)
			}
		}
	}
}

// send encodes payload with the peer's codec and sends it as one datagram
// to the current peer address. It never queues: a datagram the kernel does
// not take now is dropped and counted as send_fail, as Workerman's sendto
// returns false.
func (u *udpSocket) send(payload []byte) SendResult {
	c := u.peer
	l := c.loop
	if u.ln.closed {
		return Dropped
	}
	enc, err := c.codec.Encode(l.scratch[:0], payload)
	if err != nil {
		l.stats.SendFail++
		l.log.Debug("udp encode failed", zap.Error(err))
		return Dropped
	}
	l.scratch = enc
	return u.write(enc)
}

func (u *udpSocket) sendValue(v any) (SendResult, error) {
	c := u.peer
	l := c.loop
	ve, ok := c.codec.(codec.ValueEncoder)
	if !ok {
		switch v := v.(type) {
		case []byte:
			return u.send(v), nil
		case string:
			return u.send(unsafe.Slice(unsafe.StringData(v), len(v))), nil
		}
		return Dropped, errors.New("netloop: the connection's protocol cannot send structured values")
	}
	if u.ln.closed {
		return Dropped, nil
	}
	enc, err := ve.EncodeValue(l.scratch[:0], v)
	if err != nil {
		return Dropped, err
	}
	l.scratch = enc
	return u.write(enc), nil
}

// write sends b to the peer in one datagram.
func (u *udpSocket) write(b []byte) SendResult {
	c := u.peer
	l := c.loop
	if err := u.sendto(b); err != nil {
		l.stats.SendFail++
		l.log.Debug("udp send failed", zap.Stringer("remote", c.remote), zap.Int("bytes", len(b)), zap.String("errno", errnoName(err)))
		u.reportError(fmt.Errorf("udp send to %s: %w", c.remote, err))
		return Dropped
	}
	c.bytesWritten += uint64(len(b))
	return Sent
}

// reportError tells a connected client's handler (OnError, SendFail) that
// a datagram was refused or could not be sent: a client has one peer, so
// unlike a server socket's many senders the error is about its one
// conversation (an ICMP port unreachable from a closed port above all).
// A server socket's failed sends are only counted and logged, as
// Workerman's UDP has no onError.
func (u *udpSocket) reportError(err error) {
	if !u.connected {
		return
	}
	c := u.peer
	defer c.loop.recoverPanic(nil, "udp OnError")
	c.handler.OnError(c, SendFail, err)
}

// sendto sends b to c.remote (to the connected peer when u is connected).
func (u *udpSocket) sendto(b []byte) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var to unsafe.Pointer
	var toLen uintptr
	if !u.connected {
		var err error
		if toLen, err = u.fillTo(u.peer.remote); err != nil {
			return err
		}
		to = unsafe.Pointer(&u.to)
	}
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(u.ln.fd), uintptr(p), uintptr(len(b)), 0, uintptr(to), toLen)
	if e != 0 {
		return e
	}
	return nil
}

// fillTo writes ap into u.to in the socket's family: an IPv6 socket (bound
// to [::]) reaches IPv4 senders at their v4-mapped address.
func (u *udpSocket) fillTo(ap netip.AddrPort) (uintptr, error) {
	a := ap.Addr()
	if u.family == unix.AF_INET {
		if !a.Unmap().Is4() {
			return 0, fmt.Errorf("udp: cannot send to %s from an IPv4 socket: %w", ap, unix.EAFNOSUPPORT)
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&u.to))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		putBEUint16(&sa.Port, ap.Port())
		return unsafe.Sizeof(*sa), nil
	}
	u.to = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	putBEUint16(&u.to.Port, ap.Port())
	return unsafe.Sizeof(u.to), nil
}

// SendTo encodes v ([]byte, string or a value the protocol encodes) and
// sends it in one datagram to addr, from a UDP socket: how a UDP worker
// answers a sender after its OnMessage has returned. Off the loop it posts
// the send (copying a []byte) and reports Posted. Safe from any goroutine.
func (ln *Listener) SendTo(addr netip.AddrPort, v any) (SendResult, error) {
	if ln.udp == nil {
		return Dropped, errors.New("netloop: SendTo on a stream listener")
	}
	if !ln.loop.OnLoop() {
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b)
		}
		ln.loop.Post(func() { _, _ = ln.SendTo(addr, v) })
		return Posted, nil
	}
	c := ln.udp.peer
	// Called from OnMessage, the current sender must survive the detour.
	prev := c.remote
	c.remote = addr
	defer func() { c.remote = prev }()
	return ln.udp.sendValue(v)
}

// Connected reports whether the socket is a client's, connected to its one
// peer.
func (ln *Listener) Connected() bool { return ln.udp != nil && ln.udp.connected }
