package workerman

import (
	"crypto/tls"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/listenaddr"
	"github.com/workermand/workermand/internal/netloop"
	_ "github.com/workermand/workermand/internal/protocol" // registers tcp, text, frame
	"github.com/workermand/workermand/internal/protocol/httpproto"
	"github.com/workermand/workermand/internal/protocol/wsproto"
	"github.com/workermand/workermand/websocket"
)

// Worker is a listening service: an address, a protocol and the callbacks
// that serve its connections (Workerman's Worker). Set the fields, then run
// it with NewProcess. Fields must not change once the process runs.
type Worker struct {
	// Name is shown by status and in logs ("none" if empty).
	Name string
	// ListenAddr is the address, scheme://ip:port; the scheme names the
	// protocol: "tcp" (no framing), "text", "frame", or a registered one.
	// Use [::] for every IPv6 and IPv4 interface. A Unix socket is a path:
	// unix:///run/app.sock is a raw stream, text:///run/app.sock with
	// Transport "unix" a protocol on one (see SocketPath). Empty, the
	// worker listens on nothing: its processes run OnWorkerStart, timers
	// and clients (AsyncTcpConnection, Channel), as Workerman's
	// new Worker() with no address.
	ListenAddr string
	// Transport is "tcp" (the default), "ssl" (set by an https://, wss://
	// or ssl:// ListenAddr, or by TLS: any stream protocol over TLS), "unix"
	// (set by a unix:// ListenAddr) or "udp" (set by a udp:// ListenAddr; see
	// SendTo for what a UDP worker's Connection is).
	Transport string
	// TLS makes the worker serve TLS (Transport "ssl"): certificates (the
	// first for clients whose server name matches no other), versions
	// (TLS 1.2 at least unless set), ALPN, client certificates. Required by
	// Transport "ssl". A connection's OnConnect runs once its handshake
	// succeeded; a failed one is counted (Stats.TLSHandshakeErrors), not
	// logged, and its connection is never seen. TLS connections are not
	// handed over on reload: the old process drains them.
	TLS *tls.Config
	// TLSHandshakeTimeout closes a TLS connection whose handshake has not
	// finished that long after accept (DefaultTLSHandshakeTimeout when 0).
	TLSHandshakeTimeout time.Duration
	// IPv6Only keeps a listener on an IPv6 address to IPv6
	// (IPV6_V6ONLY); by default [::] takes IPv4 connections too, as Linux
	// does, and reports their peers as plain IPv4 addresses.
	IPv6Only bool
	// Count is the number of processes the daemon runs for this worker (1).
	Count int
	// ReusePort gives each process its own SO_REUSEPORT socket.
	ReusePort bool
	// Reloadable workers are restarted by reload; others only get
	// OnWorkerReload. NewWorker sets it.
	Reloadable bool
	// User and Group the worker's processes run as (daemon only).
	User, Group string
	// MaxPackageSize and MaxSendBufferSize are the connection limits (10 MiB
	// and 1 MiB when zero).
	MaxPackageSize    int
	MaxSendBufferSize int
	// MaxConnections caps this worker's open connections per process (0:
	// none). Above it new connections are accepted and closed at once.
	MaxConnections int
	// IdleTimeout closes connections that sent nothing for that long (0:
	// never; Workerman leaves heartbeats to the application).
	IdleTimeout time.Duration
	// SendTimeout closes (without flushing) a connection whose queued
	// output made no progress, not a byte taken by the socket, for that
	// long: its peer stopped reading. 0: never. NewWorker sets
	// DefaultSendTimeout. Checked once a second; counted in
	// Stats.SendTimeouts.
	SendTimeout time.Duration
	// MaxRequests makes the daemon replace a child after it handled that
	// many messages (0: never); the replacement starts first.
	MaxRequests uint64
	// ProxyProtocol lists the sources (load balancers) whose connections
	// start with a PROXY protocol header, version 1 or 2: it is required
	// from them, and RemoteAddr reports the client address it carries once
	// read (OnConnect still sees the balancer's). Other peers are served
	// without one.
	ProxyProtocol []netip.Prefix
	// HTTP configures an http:// worker (the [worker.http] table): limits,
	// timeouts, trusted proxies, uploads, the access log.
	HTTP http.Options
	// WebSocket configures a websocket:// worker (the [worker.websocket]
	// table): pings, origins, subprotocols, compression.
	WebSocket websocket.Options
	// Handler, when set, attaches its callbacks to the worker before
	// OnWorkerStart (see RegisterHandler).
	Handler Handler
	// Channel connects each process of the worker to the channel backend
	// that carries SendToUID, SendToGroup, SendToAll, CloseUID and
	// IsUIDOnline to the other processes and hosts:
	// channel.Backend("redis://…", channel.Options{}) from package channel
	// (a function, not a URL, because channel imports this package). The
	// process calls it on its loop before OnWorkerStart, and closes the
	// client after its loop ends; an error fails the start. nil: they
	// reach this process's connections only.
	Channel func(loop *EventLoop) (Bus, error)

	// OnWorkerStart runs once per process before it accepts connections.
	OnWorkerStart func(w *Worker)
	// OnWorkerReload runs in the process when a reload reaches it.
	OnWorkerReload func(w *Worker)
	// OnWorkerStop runs when the process stops, before its connections are
	// closed.
	OnWorkerStop func(w *Worker)
	// OnConnect runs for each accepted connection, before any data is read.
	OnConnect func(c *Connection)
	// OnMessage runs for each decoded message; m.Data is valid only until it
	// returns.
	OnMessage func(c *Connection, m Message)
	// OnWebSocketConnect runs for each websocket upgrade request, before
	// the handshake is answered: return nil to accept, a Response with
	// status 101 to accept with extra fields (a cookie), or any other
	// Response to refuse with it. req is valid during the call.
	OnWebSocketConnect func(c *Connection, req *http.Request) *http.Response
	// OnClose runs exactly once per connection, after its socket closed.
	OnClose func(c *Connection)
	// OnBufferFull runs when a send leaves MaxSendBufferSize or more bytes
	// queued; OnBufferDrain when the queue has been written out.
	OnBufferFull  func(c *Connection)
	OnBufferDrain func(c *Connection)
	// OnError reports SendFail (a dropped or failed send).
	OnError func(c *Connection, code ErrorCode, err error)

	id       int
	loop     *EventLoop
	addr     listenaddr.Addr
	proto    codec.Protocol
	listener *netloop.Listener
	bound    netip.AddrPort
	conns    map[uint64]*Connection
	// listened marks a worker started by Listen at run time, whose socket
	// is this process's own and whose connections never move on reload.
	listened bool
	// cluster holds the uids and groups of this process's connections
	// and the client of Channel. Loop-only.
	cluster cluster
	// openFile opens the files the protocol writes (the access log); in a
	// child it takes the descriptors the master opened. nil: os.OpenFile.
	openFile func(path string) (*os.File, error)
}

// NewWorker returns a worker listening on addr with Workerman's defaults
// ("" for a worker that listens on nothing).
func NewWorker(addr string) *Worker {
	return &Worker{ListenAddr: addr, Count: 1, Reloadable: true, SendTimeout: DefaultSendTimeout}
}

// ID is the worker's process slot, 0..Count-1, stable across restarts of the
// slot. A foreground process runs slot 0.
func (w *Worker) ID() int { return w.id }

// Loop is the process's event loop; nil before the process starts.
func (w *Worker) Loop() *EventLoop { return w.loop }

// Timer is the process's timer set (see Timer). Loop-only.
func (w *Worker) Timer() *Timer { return w.loop.Timer() }

// Addr is the bound listening address, with the real port when the worker
// listens on port 0. Valid once the process is created.
func (w *Worker) Addr() netip.AddrPort { return w.bound }

// Protocol is the protocol the worker speaks, its listen address's scheme
// with the transport taken out: "http" for http:// and https://,
// "websocket" for websocket:// and wss://, "tcp" for tcp://, ssl://,
// unix:// and udp://. Valid once the process is created, so a Handler's
// Attach can check it.
func (w *Worker) Protocol() string { return w.addr.Scheme }

// Connections yields the live connections of this worker in this process,
// in the order they came (by ID), as Workerman's $worker->connections
// does. Loop-only; closing connections while iterating is allowed (one
// closed before its turn is not yielded).
func (w *Worker) Connections() iter.Seq[*Connection] {
	return func(yield func(*Connection) bool) { w.inOrder(yield) }
}

// ConnectionCount is the number of live connections of this worker in this
// process. Loop-only.
func (w *Worker) ConnectionCount() int { return len(w.conns) }

// Connection returns the live connection with the given id, or nil.
// Loop-only.
func (w *Worker) Connection(id uint64) *Connection { return w.conns[id] }

// validate checks the worker's settings and resolves its protocol.
func (w *Worker) validate() error {
	if w.Name == "" {
		w.Name = "none"
	}
	if w.Count < 1 {
		w.Count = 1
	}
	if w.ListenAddr == "" {
		// Workerman's new Worker() without an address: processes for
		// timers, clients and queue consumers, with no listener.
		if w.Transport != "" || w.TLS != nil || w.ReusePort {
			return fmt.Errorf("worker %q: Transport, TLS and ReusePort need a ListenAddr", w.Name)
		}
		return nil
	}
	a, err := listenaddr.ParseListen(w.ListenAddr)
	if err != nil {
		return fmt.Errorf("worker %q: listen: %w", w.Name, err)
	}
	if err := w.resolveTLS(&a); err != nil {
		return err
	}
	if err := w.resolveTransport(&a); err != nil {
		return err
	}
	if err := w.resolveUDP(&a); err != nil {
		return err
	}
	switch w.Transport {
	case "", "tcp":
		w.Transport = "tcp"
	case "unix", "udp", "ssl":
	default:
		return fmt.Errorf("worker %q: unknown transport %q (want tcp, ssl, udp or unix)", w.Name, w.Transport)
	}
	p, ok := codec.Lookup(a.Scheme)
	if !ok {
		return fmt.Errorf("worker %q: unknown protocol %q in %q (registered: %v)", w.Name, a.Scheme, w.ListenAddr, codec.Names())
	}
	if w.MaxPackageSize < 0 || w.MaxSendBufferSize < 0 {
		return fmt.Errorf("worker %q: limits must not be negative", w.Name)
	}
	if w.IdleTimeout < 0 || w.SendTimeout < 0 {
		return fmt.Errorf("worker %q: timeouts must not be negative", w.Name)
	}
	if a.Scheme == "http" {
		hp, err := httpproto.New(w.HTTP, w.openFile)
		if err != nil {
			return fmt.Errorf("worker %q: %w", w.Name, err)
		}
		p = hp
	}
	if a.Scheme == "websocket" {
		wp, err := wsproto.New(w.WebSocket, w.websocketHandshake)
		if err != nil {
			return fmt.Errorf("worker %q: %w", w.Name, err)
		}
		p = wp
	}
	w.addr, w.proto = a, p
	return nil
}

// websocketHandshake hands an upgrade request to OnWebSocketConnect.
func (w *Worker) websocketHandshake(cc codec.Conn, req *http.Request) *http.Response {
	if w.OnWebSocketConnect == nil {
		return nil
	}
	nc, ok := cc.(*netloop.Conn)
	if !ok {
		return nil
	}
	ev, ok := nc.Handler().(*connEvents)
	if !ok {
		return nil
	}
	return w.OnWebSocketConnect(&ev.Connection, req)
}

// protocolReopener and protocolCloser are implemented by protocols that
// own files, such as the http:// access log.
type (
	protocolReopener interface{ Reopen() error }
	protocolCloser   interface{ Close() error }
)

// reopenProtocol reopens the files of w's protocol (log rotation).
func (w *Worker) reopenProtocol() error {
	if r, ok := w.proto.(protocolReopener); ok {
		return r.Reopen()
	}
	return nil
}

// closeProtocol releases the files of w's protocol once w stops.
func (w *Worker) closeProtocol() error {
	if c, ok := w.proto.(protocolCloser); ok {
		return c.Close()
	}
	return nil
}

func (w *Worker) newConn() *netloop.Conn {
	h := &connEvents{Connection: Connection{worker: w}}
	h.nc.SetHandler(h)
	return &h.nc
}

// closeIdle closes the connections silent for IdleTimeout or longer.
// Loop-only.
func (w *Worker) closeIdle() {
	for _, c := range w.conns {
		if c.nc.IdleFor() >= w.IdleTimeout {
			c.Close()
		}
	}
}
