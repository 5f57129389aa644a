package workerman

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/netloop"
	"github.com/workermand/workermand/internal/protocol/wsproto"
	"github.com/workermand/workermand/websocket"
)

// DefaultConnectTimeout bounds an outbound connect, name resolution
// included. Workerman has no such limit and waits for the kernel's (minutes).
const DefaultConnectTimeout = 10 * time.Second

// AsyncTcpConnection is an outbound connection driven by the event loop
// (Workerman's AsyncTcpConnection): "text://host:port", "frame://…",
// "tcp://…" (no framing), "ws://host:port/path?query" (a websocket client:
// messages arrive with KindText or KindBinary, SendValue takes the websocket
// package's values), and over TLS "ssl://host:port" (no framing) and
// "wss://host[:port]/path?query" (ws:// over TLS, port 443 by default), or
// any of the others with Transport "ssl". The server's certificate is
// verified (see TLS); OnConnect runs once the TLS handshake is done. On a
// Unix socket the address is written as a worker's: "unix:///run/app.sock"
// (no framing), or "text:///run/app.sock" and the like with Transport
// "unix". It embeds Connection, whose callbacks and methods it shares;
// output sent before the connection is up is queued and written once it
// is. All its methods and fields are loop-only, except the
// Connection methods that say otherwise.
//
// On failure it reports OnError(ConnectFail) and then OnClose. Callbacks
// survive Reconnect, so the usual pattern works:
//
//	conn.OnClose = func(*workerman.Connection) { conn.Reconnect(time.Second) }
type AsyncTcpConnection struct {
	Connection

	// OnConnect runs when the connection is established, and again after
	// every successful reconnect.
	OnConnect func(c *AsyncTcpConnection)
	// ConnectTimeout bounds each connect attempt, name lookup and TLS
	// handshake included (DefaultConnectTimeout when zero).
	ConnectTimeout time.Duration
	// Transport "ssl" runs the protocol over TLS, as Workerman's
	// $connection->transport = 'ssl' (so ws://host:443 with "ssl" is
	// wss://host). ssl:// and wss:// addresses set it, and a non-nil TLS
	// implies it; "" or "tcp" is plain TCP. "unix" goes with a socket
	// path (unix:/// addresses set it). Read at every connect.
	Transport string
	// TLS configures the client side of a TLS connection, read at every
	// connect. nil verifies the server's certificate against the system's
	// roots for the address's host, which is also sent as SNI. A config of
	// one's own (RootCAs trusting a private CA, a client certificate, ALPN)
	// is copied at each connect, with ServerName set to the address's host
	// when empty and ClientSessionCache to the connection's own when nil, so
	// that a reconnect resumes the TLS session.
	TLS *tls.Config
	// WebSocket holds the handshake of a ws:// connection, read at every
	// connect: Path and Host start as the address's, and Header and
	// Subprotocols may be added. Ignored by other protocols.
	WebSocket websocket.ClientOptions

	loop        *EventLoop
	addr        listenaddr.Addr
	proto       codec.Protocol
	attempt     uint64 // tells a current name lookup from a stale one
	reconnectID TimerID
	expireID    TimerID // asks the codec about its timeouts while connected
	// sessions is the TLS session cache kept across reconnects when TLS
	// brings none.
	sessions tls.ClientSessionCache
}

type asyncEvents struct{ AsyncTcpConnection }

var _ netloop.Handler = (*asyncEvents)(nil)

func (h *asyncEvents) OnOpen(*netloop.Conn)                       { h.opened() }
func (h *asyncEvents) OnMessage(_ *netloop.Conn, m codec.Message) { h.deliver(m) }
func (h *asyncEvents) OnClose(*netloop.Conn)                      { h.stopExpiry(); h.closed() }
func (h *asyncEvents) OnBufferFull(*netloop.Conn)                 { h.bufferFull() }
func (h *asyncEvents) OnBufferDrain(*netloop.Conn)                { h.bufferDrain() }
func (h *asyncEvents) OnError(_ *netloop.Conn, code netloop.ErrorCode, err error) {
	h.failed(ErrorCode(code), publicError(err))
}

// NewAsyncTcpConnection prepares a connection to remote on loop; Connect
// starts it. Loop-only (or before the loop runs).
func NewAsyncTcpConnection(loop *EventLoop, remote string) (*AsyncTcpConnection, error) {
	var a listenaddr.Addr
	var target string
	var err error
	if _, rest, _ := strings.Cut(remote, "://"); strings.HasPrefix(rest, "/") {
		// A socket path, written as a worker's: unix:///run/app.sock, or
		// text:///run/app.sock with Transport "unix".
		a, err = listenaddr.ParseListen(remote)
	} else {
		var hostPort string
		hostPort, target = splitTarget(remote)
		a, err = listenaddr.Parse(withDefaultPort(hostPort), false)
	}
	if err != nil {
		return nil, fmt.Errorf("async connection: %w", err)
	}
	transport := ""
	switch {
	case a.IsPath() && a.Scheme == "unix":
		transport, a.Scheme = "unix", "tcp"
	case a.IsPath() && (a.Scheme == "ssl" || a.Scheme == "wss" || a.Scheme == "ws"):
		// A ws:// path is the request's; the socket's would be ambiguous.
		return nil, fmt.Errorf("async connection %q: %s:// connects to host:port, not to a Unix socket", remote, a.Scheme)
	}
	switch a.Scheme {
	case "ssl", "wss":
		// The TLS shorthands name the protocol they carry as the server's
		// do (tlsSchemes), except that a client speaks ws, not websocket.
		transport = "ssl"
		a.Scheme = map[string]string{"ssl": "tcp", "wss": "ws"}[a.Scheme]
	case "websocket", "http", "https":
		return nil, fmt.Errorf("async connection %q: %s:// is a server protocol and cannot connect out", remote, a.Scheme)
	}
	proto, ok := codec.Lookup(a.Scheme)
	if !ok {
		return nil, fmt.Errorf("async connection %q: unknown protocol %q (registered: %v)", remote, a.Scheme, codec.Names())
	}
	h := &asyncEvents{}
	c := &h.AsyncTcpConnection
	if a.Scheme == "ws" {
		if target == "" {
			target = "/"
		}
		if !wsproto.ValidRequestTarget(target) {
			return nil, fmt.Errorf("async connection %q: invalid path %q", remote, target)
		}
		host := a.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		c.WebSocket = websocket.ClientOptions{Host: host + ":" + strconv.Itoa(int(a.Port)), Path: target}
		proto = wsproto.NewClient(&c.WebSocket)
	} else if target != "" {
		return nil, fmt.Errorf("async connection %q: only ws:// and wss:// addresses take a path", remote)
	}
	c.Transport = transport
	c.async = c
	c.loop = loop
	c.addr = a
	c.proto = proto
	c.nc.SetHandler(h)
	c.nc.PrepareOutbound(loop.l, proto)
	return c, nil
}

// withDefaultPort adds 443 to a wss:// address written without a port, as
// a browser would: wss:// addresses are often copied from a web page's
// code. ws:// keeps requiring one, as it did before wss:// existed.
func withDefaultPort(hostPort string) string {
	scheme, rest, _ := strings.Cut(hostPort, "://")
	if scheme != "wss" || rest == "" {
		return hostPort
	}
	const port = "443"
	if colon := strings.LastIndexByte(rest, ':'); colon >= 0 && colon > strings.LastIndexByte(rest, ']') {
		return hostPort // has a port (or is an unbracketed IPv6 address, which Parse refuses)
	}
	return hostPort + ":" + port
}

// tlsClientConfig is the TLS configuration of the next connect, nil for
// plain TCP (see Transport and TLS).
func (c *AsyncTcpConnection) tlsClientConfig() (*tls.Config, error) {
	if c.addr.IsPath() {
		// As a worker on a socket path: the transport says so, and says
		// nothing else.
		switch {
		case c.Transport != "unix":
			return nil, fmt.Errorf("async connection to %s: a socket path needs Transport \"unix\", not %q", c.addr.Path, c.Transport)
		case c.TLS != nil:
			return nil, fmt.Errorf("async connection to %s: TLS over a Unix socket is not supported", c.addr.Path)
		}
		return nil, nil
	}
	switch c.Transport {
	case "ssl":
	case "":
		if c.TLS == nil {
			return nil, nil
		}
	case "tcp":
		if c.TLS != nil {
			return nil, fmt.Errorf("async connection to %s: TLS is set but Transport is \"tcp\" (TLS needs transport \"ssl\")", c.addr.Host)
		}
		return nil, nil
	case "unix":
		return nil, fmt.Errorf("async connection to %s: transport \"unix\" connects to a socket path, as in text:///run/app.sock", c.addr.Host)
	default:
		return nil, fmt.Errorf("async connection to %s: unknown transport %q (want \"tcp\", \"ssl\" or \"unix\")", c.addr.Host, c.Transport)
	}
	var cfg *tls.Config
	if c.TLS != nil {
		cfg = c.TLS.Clone() // the caller may share or change theirs
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.addr.Host
	}
	if cfg.ClientSessionCache == nil {
		if c.sessions == nil {
			c.sessions = tls.NewLRUClientSessionCache(0)
		}
		cfg.ClientSessionCache = c.sessions
	}
	return cfg, nil
}

// dial starts the connect to addr, with TLS when tlsCfg is set.
func (c *AsyncTcpConnection) dial(addr netip.AddrPort, timeout time.Duration, tlsCfg *tls.Config) {
	if tlsCfg != nil {
		c.loop.l.DialTLS(&c.nc, addr, timeout, tlsCfg)
		return
	}
	c.loop.l.Dial(&c.nc, addr, timeout)
}

// splitTarget cuts the path and query off a ws://host:port/path?query
// address, so that the host and port parse as any other address's.
func splitTarget(remote string) (hostPort, target string) {
	scheme, rest, ok := strings.Cut(remote, "://")
	if !ok {
		return remote, ""
	}
	i := strings.IndexAny(rest, "/?#")
	if i < 0 {
		return remote, ""
	}
	target = rest[i:]
	if target[0] == '?' {
		target = "/" + target
	}
	return scheme + "://" + rest[:i], target
}

func (c *AsyncTcpConnection) stopExpiry() {
	if c.expireID != 0 {
		c.loop.Timer().Del(c.expireID)
		c.expireID = 0
	}
}

// WebSocketSubprotocol is the subprotocol the server of a ws:// connection
// selected ("" for none, before the handshake completes, or for other
// protocols).
func (c *AsyncTcpConnection) WebSocketSubprotocol() string {
	if s, ok := c.nc.Codec().(interface{ Subprotocol() string }); ok {
		return s.Subprotocol()
	}
	return ""
}

// RemoteHost is the host the connection was created for, as written, or
// the socket path of a Unix socket address.
func (c *AsyncTcpConnection) RemoteHost() string {
	if c.addr.IsPath() {
		return c.addr.Path
	}
	return c.addr.Host
}

// Connect starts connecting; it does nothing while connecting or connected.
// Host names are resolved off the loop. The outcome is reported through
// OnConnect, or OnError(ConnectFail) then OnClose, never from inside Connect.
func (c *AsyncTcpConnection) Connect() {
	switch c.nc.Status() {
	case netloop.StatusClosed:
		c.nc.PrepareOutbound(c.loop.l, c.proto)
	case netloop.StatusInitial:
	default:
		return
	}
	c.attempt++
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	attempt, host, port := c.attempt, c.addr.Host, c.addr.Port
	tlsCfg, err := c.tlsClientConfig()
	if err != nil {
		// Reported on a later turn, as every connect failure is.
		c.loop.l.Post(func() {
			if attempt == c.attempt && c.nc.Status() == netloop.StatusInitial {
				c.nc.FailConnect(err)
			}
		})
		return
	}
	if c.addr.IsPath() {
		c.loop.l.DialUnix(&c.nc, c.addr.Path, timeout)
		return
	}
	if c.addr.IP.IsValid() {
		c.dial(c.addr.AddrPort(), timeout, tlsCfg)
		return
	}
	deadline := time.Now().Add(timeout)
	lookupHost(c.loop, host, deadline, func(ip netip.Addr, err error) {
		if attempt != c.attempt || c.nc.Status() != netloop.StatusInitial {
			return // closed or restarted while the name was being looked up
		}
		if err != nil {
			c.nc.FailConnect(err)
			return
		}
		// One timeout covers the lookup and the connect together.
		left := time.Until(deadline)
		if left <= 0 {
			c.nc.FailConnect(fmt.Errorf("connect %s: %w after %s", host, ErrConnectTimeout, timeout))
			return
		}
		c.dial(netipAddrPort(ip, port), left, tlsCfg)
	})
}

// Reconnect closes the connection if it is open and connects again after the
// given delay (at once when zero). Callbacks are kept.
func (c *AsyncTcpConnection) Reconnect(after time.Duration) {
	c.CancelReconnect()
	if st := c.nc.Status(); st == netloop.StatusConnecting || st == netloop.StatusEstablished || st == netloop.StatusClosing {
		c.nc.Destroy()
		if c.reconnectID != 0 || c.nc.Status() != netloop.StatusClosed {
			return // OnClose already reconnected
		}
	}
	c.nc.PrepareOutbound(c.loop.l, c.proto)
	if after <= 0 {
		c.Connect()
		return
	}
	c.reconnectID = c.loop.Timer().AddOnce(after, func() {
		c.reconnectID = 0
		c.Connect()
	})
}

// CancelReconnect cancels a reconnect scheduled by Reconnect.
func (c *AsyncTcpConnection) CancelReconnect() {
	if c.reconnectID != 0 {
		c.loop.Timer().Del(c.reconnectID)
		c.reconnectID = 0
	}
}

func (c *AsyncTcpConnection) opened() {
	// Listeners sweep their connections' codec timeouts; an outbound
	// connection has no listener, so it gets a timer of its own. Its codec
	// (a ws:// client waiting for the 101 or for a close answer) keeps its
	// own clock, so idle is passed as 0.
	if _, ok := c.nc.Codec().(codec.Expirer); ok && c.expireID == 0 {
		c.expireID = c.loop.Timer().Add(time.Second, func() {
			if e, ok := c.nc.Codec().(codec.Expirer); ok && e.Expired(time.Now(), 0) {
				c.nc.Close()
			}
		})
	}
	if c.OnConnect != nil {
		c.OnConnect(c)
	}
}
