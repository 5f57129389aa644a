package workerman

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/netloop"
	"github.com/workermand/workermand/internal/sockets"
)

// AsyncUdpConnection is a UDP client driven by the event loop (Workerman's
// AsyncUdpConnection): "udp://host:port" sends and receives raw datagrams,
// one message each; a protocol such as "text://host:port" frames them (each
// line of a datagram a message). Its socket is connected to the one peer,
// so only that peer's datagrams arrive, and a datagram refused by the
// peer's host (nothing listens on the port: ICMP port unreachable) is
// reported to OnError as SendFail with an error that errors.Is
// syscall.ECONNREFUSED; the connection stays open, since the peer may
// start later.
//
// Send before the socket is connected connects it (as Workerman's send
// does) and holds the datagram until then, in order, up to
// DefaultMaxSendBufferSize bytes. Host names are resolved off the loop.
// Connect reports its outcome on a later turn of the loop, never from
// inside the call: OnConnect, or OnError(ConnectFail) then OnClose.
//
// It is no Connection: UDP has no send buffer, pause or pipe, so its
// callbacks take the AsyncUdpConnection itself. Unlike Workerman, Close
// keeps the callbacks, so Connect (or Send) after Close opens a new socket
// served by the same ones. Its methods and fields are loop-only, except
// those whose doc says otherwise.
type AsyncUdpConnection struct {
	// OnConnect runs once the socket is connected, after the datagrams
	// sent before are gone, and again after every new Connect.
	OnConnect func(c *AsyncUdpConnection)
	// OnMessage gets each message the peer sends; m.Data is valid only
	// until it returns.
	OnMessage func(c *AsyncUdpConnection, m Message)
	// OnClose runs once per Close of a connected or connecting socket, and
	// after a failed connect.
	OnClose func(c *AsyncUdpConnection)
	// OnError reports a failed connect (ConnectFail: a name that does not
	// resolve, a socket that cannot be made) and datagrams refused or not
	// sent (SendFail).
	OnError func(c *AsyncUdpConnection, code ErrorCode, err error)
	// ConnectTimeout bounds the name lookup of each connect
	// (DefaultConnectTimeout when zero); a UDP connect itself never waits.
	ConnectTimeout time.Duration
	// MaxPackageSize is the largest datagram delivered (DefaultMaxPackageSize
	// when zero); larger ones are dropped and counted.
	MaxPackageSize int
	// Context is a slot for the application's data.
	Context any

	loop    *EventLoop
	addr    listenaddr.Addr
	proto   codec.Protocol
	status  Status
	ln      *netloop.Listener // the connected socket while established
	remote  netip.AddrPort    // the peer's address once resolved
	attempt uint64            // tells a current connect from a stale one
	pending []any             // sends made before the socket was connected
	held    int               // bytes in pending
}

// asyncUdpEvents receives the loop's events for the socket's one Conn.
type asyncUdpEvents struct{ c *AsyncUdpConnection }

var _ netloop.Handler = asyncUdpEvents{}

func (asyncUdpEvents) OnOpen(*netloop.Conn)        {}
func (asyncUdpEvents) OnClose(*netloop.Conn)       {}
func (asyncUdpEvents) OnBufferFull(*netloop.Conn)  {}
func (asyncUdpEvents) OnBufferDrain(*netloop.Conn) {}

func (h asyncUdpEvents) OnMessage(_ *netloop.Conn, m codec.Message) {
	if h.c.OnMessage != nil {
		h.c.OnMessage(h.c, m)
	}
}

func (h asyncUdpEvents) OnError(_ *netloop.Conn, code netloop.ErrorCode, err error) {
	h.c.failed(ErrorCode(code), publicError(err))
}

// NewAsyncUdpConnection prepares a UDP client for remote on loop:
// "udp://host:port" for raw datagrams, or a protocol's scheme
// ("text://host:port", "frame://…") to frame them. Connect (or a first
// Send) opens the socket. Loop-only (or before the loop runs).
func NewAsyncUdpConnection(loop *EventLoop, remote string) (*AsyncUdpConnection, error) {
	if _, target := splitTarget(remote); target != "" {
		return nil, fmt.Errorf("async udp connection %q: a UDP address takes no path", remote)
	}
	a, err := listenaddr.Parse(remote, false)
	if err != nil {
		return nil, fmt.Errorf("async udp connection: %w", err)
	}
	switch a.Scheme {
	case "udp":
		a.Scheme = "tcp" // raw: one message per datagram, as tcp:// is a raw stream
	case "tcp", "unix", "ssl":
		return nil, fmt.Errorf("async udp connection %q: %s:// is not UDP (write udp://, or a protocol such as text://)", remote, a.Scheme)
	}
	if udpSchemes[a.Scheme] {
		return nil, fmt.Errorf("async udp connection %q: %s:// cannot run over UDP: it needs a connection", remote, a.Scheme)
	}
	proto, ok := codec.Lookup(a.Scheme)
	if !ok {
		return nil, fmt.Errorf("async udp connection %q: unknown protocol %q (registered: %v)", remote, a.Scheme, codec.Names())
	}
	c := &AsyncUdpConnection{loop: loop, addr: a, proto: proto, status: StatusInitial}
	if a.IP.IsValid() {
		c.remote = a.AddrPort()
	}
	return c, nil
}

// Loop is the event loop c belongs to. Safe from any goroutine.
func (c *AsyncUdpConnection) Loop() *EventLoop { return c.loop }

// Status is INITIAL before the first Connect, CONNECTING while the name
// resolves, ESTABLISHED once the socket is connected, CLOSED after Close
// or a failed connect.
func (c *AsyncUdpConnection) Status() Status { return c.status }

// RemoteHost is the host the connection was created for, as written.
func (c *AsyncUdpConnection) RemoteHost() string { return c.addr.Host }

// RemoteAddr is the peer's address: the zero value until a host name has
// resolved.
func (c *AsyncUdpConnection) RemoteAddr() netip.AddrPort { return c.remote }

// RemoteIP and RemotePort are the parts of RemoteAddr.
func (c *AsyncUdpConnection) RemoteIP() string   { return ipString(c.remote) }
func (c *AsyncUdpConnection) RemotePort() uint16 { return c.remote.Port() }

// LocalAddr is the socket's address while it is connected, else the zero
// value.
func (c *AsyncUdpConnection) LocalAddr() netip.AddrPort {
	if c.ln == nil {
		return netip.AddrPort{}
	}
	return c.ln.Addr()
}

// Connect opens a socket connected to the peer; it does nothing while
// connecting or connected. The outcome is reported on a later turn of the
// loop: OnConnect, or OnError(ConnectFail) then OnClose.
func (c *AsyncUdpConnection) Connect() {
	if c.status != StatusInitial && c.status != StatusClosed {
		return
	}
	c.status = StatusConnecting
	c.attempt++
	attempt := c.attempt
	current := func() bool { return attempt == c.attempt && c.status == StatusConnecting }
	if c.addr.IP.IsValid() {
		// Posted, so that OnConnect never runs inside Connect, or inside
		// the Send that connected.
		c.loop.Post(func() {
			if current() {
				c.open(c.addr.AddrPort())
			}
		})
		return
	}
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	lookupHost(c.loop, c.addr.Host, time.Now().Add(timeout), func(ip netip.Addr, err error) {
		if !current() {
			return // closed or connected again while the name was looked up
		}
		if err != nil {
			c.connectFailed(err)
			return
		}
		c.open(netip.AddrPortFrom(ip, c.addr.Port))
	})
}

// open connects a socket to ap, sends what was held and reports OnConnect.
func (c *AsyncUdpConnection) open(ap netip.AddrPort) {
	c.remote = ap
	fd, err := sockets.DialUDP(ap)
	if err != nil {
		c.connectFailed(fmt.Errorf("connect udp %s: %w", ap, err))
		return
	}
	ln, err := c.loop.l.AddUDP(fd, netloop.ListenerConfig{
		Protocol:       c.proto,
		MaxPackageSize: c.MaxPackageSize,
		NewConn: func() *netloop.Conn {
			nc := &netloop.Conn{}
			nc.SetHandler(asyncUdpEvents{c})
			return nc
		},
	})
	if err != nil {
		unix.Close(fd)
		c.connectFailed(fmt.Errorf("connect udp %s: %w", ap, err))
		return
	}
	c.ln = ln
	c.status = StatusEstablished
	pending := c.pending
	c.pending, c.held = nil, 0
	for _, v := range pending {
		if _, err := c.sendValue(v); err != nil {
			c.failed(SendFail, err)
		}
		if c.status != StatusEstablished {
			return // closed by OnError
		}
	}
	if c.OnConnect != nil {
		c.OnConnect(c)
	}
}

// connectFailed ends a connect that could not be made, as AsyncTcpConnection
// does: OnError(ConnectFail), then OnClose.
func (c *AsyncUdpConnection) connectFailed(err error) {
	c.status = StatusClosed
	c.pending, c.held = nil, 0
	c.failed(ConnectFail, err)
	c.closed()
}

func (c *AsyncUdpConnection) failed(code ErrorCode, err error) {
	if c.OnError != nil {
		c.OnError(c, code, err)
	}
}

func (c *AsyncUdpConnection) closed() {
	if c.OnClose != nil {
		c.OnClose(c)
	}
}

// Send encodes data with the protocol and sends it as one datagram: Sent,
// or Dropped when the kernel refused it (reported to OnError). Before the
// socket is connected it connects and holds the datagram: Queued, or
// Dropped once DefaultMaxSendBufferSize bytes are held (OnError with
// ErrSendBufferFull). Off the loop it copies data, posts the send and
// reports Posted. Safe from any goroutine.
func (c *AsyncUdpConnection) Send(data []byte) SendResult {
	if !c.loop.OnLoop() {
		p := bytes.Clone(data)
		c.loop.Post(func() { c.Send(p) })
		return Posted
	}
	r, _ := c.sendValue(data)
	return r
}

// SendString is Send for a string. Safe from any goroutine.
func (c *AsyncUdpConnection) SendString(s string) SendResult {
	if !c.loop.OnLoop() {
		c.loop.Post(func() { c.SendString(s) })
		return Posted
	}
	r, _ := c.sendValue(s)
	return r
}

// SendValue sends a value the protocol encodes; []byte and string work
// with every protocol. Off the loop v is sent later and must not be
// changed meanwhile. Safe from any goroutine.
func (c *AsyncUdpConnection) SendValue(v any) (SendResult, error) {
	if !c.loop.OnLoop() {
		c.loop.Post(func() { _, _ = c.SendValue(v) })
		return Posted, nil
	}
	return c.sendValue(v)
}

func (c *AsyncUdpConnection) sendValue(v any) (SendResult, error) {
	if c.status == StatusEstablished {
		r, err := c.ln.Peer().SendValue(v)
		return SendResult(r), err
	}
	size := 0
	switch b := v.(type) {
	case []byte:
		size = len(b)
		v = bytes.Clone(b) // the caller may reuse its buffer once Send returns
	case string:
		size = len(b)
	}
	if c.held+size > DefaultMaxSendBufferSize {
		c.failed(SendFail, ErrSendBufferFull)
		return Dropped, nil
	}
	c.pending = append(c.pending, v)
	c.held += size
	c.Connect()
	return Queued, nil
}

// Close sends the optional last datagrams, closes the socket and runs
// OnClose; while connecting it abandons the connect and drops what was
// held. It does nothing before Connect or once closed. Safe from any
// goroutine.
func (c *AsyncUdpConnection) Close(last ...[]byte) {
	if !c.loop.OnLoop() {
		copied := make([][]byte, len(last))
		for i, b := range last {
			copied[i] = bytes.Clone(b)
		}
		c.loop.Post(func() { c.Close(copied...) })
		return
	}
	switch c.status {
	case StatusEstablished:
		for _, b := range last {
			c.ln.Peer().Send(b)
		}
		c.ln.Close()
		c.ln = nil
	case StatusConnecting:
		c.attempt++ // a name lookup under way is now stale
		c.pending, c.held = nil, 0
	default:
		return
	}
	c.status = StatusClosed
	c.closed()
}
