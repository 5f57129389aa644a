package workerman

import (
	"net/netip"
	"unsafe"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/netloop"
)

// Connection is one TCP connection of a worker (Workerman's TcpConnection),
// or the connection inside an AsyncTcpConnection.
//
// Its callback fields start nil, meaning "use the worker's"; set them to
// handle one connection differently (Pipe does). Methods are loop-only unless
// their doc says otherwise.
type Connection struct {
	nc     netloop.Conn
	worker *Worker
	async  *AsyncTcpConnection
	// member is the uid and groups the connection joined (uid.go); nil
	// until it does.
	member *membership

	// Context is a slot for the application's per-connection data (a user
	// id, a session). Loop-only.
	Context any

	OnMessage     func(c *Connection, m Message)
	OnClose       func(c *Connection)
	OnBufferFull  func(c *Connection)
	OnBufferDrain func(c *Connection)
	OnError       func(c *Connection, code ErrorCode, err error)
}

// ID is the connection's number, unique within its process (ids repeat
// across processes).
func (c *Connection) ID() uint64 { return c.nc.ID() }

// Worker is the worker that accepted c; nil for outbound connections.
func (c *Connection) Worker() *Worker { return c.worker }

// Loop is the event loop c belongs to. Safe from any goroutine.
func (c *Connection) Loop() *EventLoop {
	if c.worker != nil {
		return c.worker.loop
	}
	return c.async.loop
}

// Status is where c is in its life cycle.
func (c *Connection) Status() Status { return Status(c.nc.Status()) }

// Send encodes data with the connection's protocol and sends it. On the loop
// it reports Sent, Queued or Dropped. A send while MaxSendBufferSize bytes
// are already queued is dropped, counted as send_fail and reported to OnError
// with SendFail. Off the loop it copies data, posts the send and reports
// Posted. Safe from any goroutine.
func (c *Connection) Send(data []byte) SendResult {
	if c.udpOffLoop() {
		return Dropped
	}
	return SendResult(c.nc.Send(data))
}

// SendString is Send for a string. Safe from any goroutine.
func (c *Connection) SendString(s string) SendResult {
	if c.udpOffLoop() {
		return Dropped
	}
	// Send never keeps its argument past the call (it encodes or copies), so
	// the string's bytes can be lent without a copy.
	return SendResult(c.nc.Send(unsafe.Slice(unsafe.StringData(s), len(s))))
}

// SendValue sends a structured value (an HTTP response, a websocket message
// of a given kind) through protocols that support them; []byte and string
// work with every protocol. Off the loop v is sent later and must not be
// changed meanwhile. Safe from any goroutine.
func (c *Connection) SendValue(v any) (SendResult, error) {
	if c.udpOffLoop() {
		return Dropped, errUDPOffLoop
	}
	r, err := c.nc.SendValue(v)
	return SendResult(r), err
}

// Close sends the optional last message, writes everything queued, then
// closes. Input arriving meanwhile is ignored. Safe from any goroutine.
func (c *Connection) Close(last ...[]byte) {
	for _, m := range last {
		c.nc.Send(m)
	}
	c.nc.Close()
}

// Destroy closes c at once, dropping queued output. Safe from any goroutine.
func (c *Connection) Destroy() { c.nc.Destroy() }

// PauseRecv stops reading from c (TCP flow control then slows the peer).
func (c *Connection) PauseRecv() { c.nc.PauseRecv() }

// ResumeRecv resumes reading; input buffered meanwhile is processed at the
// end of the current loop turn.
func (c *Connection) ResumeRecv() { c.nc.ResumeRecv() }

// Pipe forwards everything c receives to dest, closes dest when c closes, and
// pauses c while dest's send buffer is full, so a slow dest never makes the
// process buffer without bound. Pipe both ways for a proxy.
func (c *Connection) Pipe(dest *Connection) {
	c.OnMessage = func(_ *Connection, m Message) { dest.Send(m.Data) }
	c.OnClose = func(*Connection) { dest.Close() }
	dest.OnBufferFull = func(*Connection) { c.PauseRecv() }
	dest.OnBufferDrain = func(*Connection) { c.ResumeRecv() }
}

// RemoteAddr is the peer's address; IPv4 peers of an IPv6 listener appear as
// plain IPv4. Its String is "[::1]:5000" for IPv6. A Unix socket peer has
// no address: the zero value (see PeerCredentials and Worker.SocketPath).
func (c *Connection) RemoteAddr() netip.AddrPort { return c.nc.RemoteAddr() }

// RemoteIP is the peer's IP without brackets, e.g. "::1" or "127.0.0.1";
// "" for a Unix socket peer, as Workerman's getRemoteIp.
func (c *Connection) RemoteIP() string { return ipString(c.nc.RemoteAddr()) }

// RemotePort is the peer's port.
func (c *Connection) RemotePort() uint16 { return c.nc.RemoteAddr().Port() }

// LocalAddr is the local address of c.
func (c *Connection) LocalAddr() netip.AddrPort { return c.nc.LocalAddr() }

// LocalIP and LocalPort are the parts of LocalAddr ("" and 0 on a Unix
// socket).
func (c *Connection) LocalIP() string   { return ipString(c.nc.LocalAddr()) }
func (c *Connection) LocalPort() uint16 { return c.nc.LocalAddr().Port() }

// IsIPv4 and IsIPv6 tell the family of the peer's address (both false for
// a Unix socket peer).
func (c *Connection) IsIPv4() bool { return c.nc.RemoteAddr().Addr().Is4() }
func (c *Connection) IsIPv6() bool { return c.nc.RemoteAddr().Addr().Is6() }

// MaxSendBufferSize is the limit of queued output (default 1 MiB).
func (c *Connection) MaxSendBufferSize() int { return c.nc.MaxSendBuffer() }

// SetMaxSendBufferSize changes the limit of queued output.
func (c *Connection) SetMaxSendBufferSize(n int) { c.nc.SetMaxSendBuffer(n) }

// MaxPackageSize is the largest packet accepted (default 10 MiB).
func (c *Connection) MaxPackageSize() int { return c.nc.MaxPackageSize() }

// SetMaxPackageSize changes the largest packet accepted.
func (c *Connection) SetMaxPackageSize(n int) { c.nc.SetMaxPackageSize(n) }

// BytesRead and BytesWritten count the bytes moved on the socket.
func (c *Connection) BytesRead() uint64    { return c.nc.BytesRead() }
func (c *Connection) BytesWritten() uint64 { return c.nc.BytesWritten() }

// SendQueueSize is the number of bytes waiting to be written.
func (c *Connection) SendQueueSize() int { return c.nc.SendQueueSize() }

// RecvQueueSize is the number of received bytes not yet framed.
func (c *Connection) RecvQueueSize() int { return c.nc.RecvQueueSize() }

// Codec is the connection's protocol codec (for protocols that expose more
// than Send, such as a websocket's message kinds).
func (c *Connection) Codec() codec.Codec { return c.nc.Codec() }

// connEvents receives the loop's events for an accepted Connection. Its
// methods shadow the Connection's callback fields of the same names.
type connEvents struct{ Connection }

var _ netloop.Handler = (*connEvents)(nil)

func (h *connEvents) OnOpen(*netloop.Conn) {
	c := &h.Connection
	w := c.worker
	w.conns[c.nc.ID()] = c
	// A connection handed over from a retiring process was already
	// announced there.
	if w.OnConnect != nil && !c.nc.Adopted() {
		w.OnConnect(c)
	}
}

func (h *connEvents) OnMessage(_ *netloop.Conn, m codec.Message) { h.Connection.deliver(m) }
func (h *connEvents) OnClose(*netloop.Conn)                      { h.Connection.closed() }
func (h *connEvents) OnBufferFull(*netloop.Conn)                 { h.Connection.bufferFull() }
func (h *connEvents) OnBufferDrain(*netloop.Conn)                { h.Connection.bufferDrain() }
func (h *connEvents) OnError(_ *netloop.Conn, code netloop.ErrorCode, err error) {
	h.Connection.failed(ErrorCode(code), publicError(err))
}

// The routing below gives a connection's own callback precedence over its
// worker's, as in Workerman, where accept copies the worker's callbacks onto
// the connection.

func (c *Connection) deliver(m Message) {
	if c.OnMessage != nil {
		c.OnMessage(c, m)
	} else if c.worker != nil && c.worker.OnMessage != nil {
		c.worker.OnMessage(c, m)
	}
}

func (c *Connection) closed() {
	if c.worker != nil {
		delete(c.worker.conns, c.nc.ID())
		// Before OnClose: a send to its uid or groups, and IsUIDOnline,
		// no longer count it there.
		c.worker.forget(c)
	}
	if c.OnClose != nil {
		c.OnClose(c)
	} else if c.worker != nil && c.worker.OnClose != nil {
		c.worker.OnClose(c)
	}
}

func (c *Connection) bufferFull() {
	if c.OnBufferFull != nil {
		c.OnBufferFull(c)
	} else if c.worker != nil && c.worker.OnBufferFull != nil {
		c.worker.OnBufferFull(c)
	}
}

func (c *Connection) bufferDrain() {
	if c.OnBufferDrain != nil {
		c.OnBufferDrain(c)
	} else if c.worker != nil && c.worker.OnBufferDrain != nil {
		c.worker.OnBufferDrain(c)
	}
}

func (c *Connection) failed(code ErrorCode, err error) {
	if c.OnError != nil {
		c.OnError(c, code, err)
	} else if c.worker != nil && c.worker.OnError != nil {
		c.worker.OnError(c, code, err)
	}
}
