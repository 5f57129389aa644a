// Package globaldata is the client of Workerman's GlobalData (manual
// 1.15.1): variables shared by every process of a daemon, and by PHP
// programs using Workerman's GlobalData client, kept by a GlobalData server
// (the stock "globaldata" handler, or Workerman's own).
//
// Client runs on an event loop and never blocks it: each command's result
// comes back through a callback on the loop. SyncClient blocks, for code
// outside a loop (a command-line tool, a goroutine of one's own).
//
// Keys are sharded over the servers given as Workerman's client does,
// abs(crc32(key)) % n, so Go and PHP clients given the same list of
// servers find each key on the same one.
//
// Values are anything phpserialize writes, and come back as
// phpserialize.Unmarshal reads them:
//
//	Go value given                          PHP value      Go value returned
//	nil                                     null           nil
//	bool                                    bool           bool
//	int, int8…int64, uint…uint64 (≤ 2⁶³-1)  int            int64
//	float32, float64                        float          float64
//	string, []byte                          string         string
//	slices and arrays                       array (list)   *phpserialize.Array
//	maps with string or integer keys        array          *phpserialize.Array
//	*phpserialize.Array                     array          *phpserialize.Array
//
// A *phpserialize.Array keeps PHP's key order and types, so a value read
// with Get and given back to Cas as the old value serializes to the same
// bytes and the compare succeeds. A Go map is written with its keys
// sorted, so it matches a PHP array only in that order. Other types
// (structs, channels, functions) are refused with an error before anything
// is sent.
package globaldata

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/workermand/workermand/workerman"
)

// Client is a GlobalData client on an event loop. Its methods may be
// called from any goroutine and return at once; their callbacks run on the
// loop (never inside the call), and may be nil. Each server gets one
// connection, opened at its first request and reopened every
// ReconnectInterval while it is down, with a "ping" every PingInterval as
// Workerman's client sends; requests to one server are answered in order.
// Requests made while a server is unreachable wait for it, up to Timeout.
type Client struct {
	// Timeout bounds each request, from the call to its reply
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// PingInterval is the keep-alive of each connection
	// (DefaultPingInterval when zero).
	PingInterval time.Duration
	// ReconnectInterval is the wait before connecting again to a server
	// that is down (DefaultReconnectInterval when zero).
	ReconnectInterval time.Duration

	loop    *workerman.EventLoop
	servers []*serverConn
	closed  bool
}

// New returns a client on loop for the servers at addrs ("host:port", as
// Workerman's client takes them, or "unix:///path"); with none, the
// default server 127.0.0.1:2207. Set its fields before the first request.
func New(loop *workerman.EventLoop, addrs ...string) *Client {
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:2207"}
	}
	c := &Client{loop: loop}
	for _, a := range addrs {
		c.servers = append(c.servers, &serverConn{c: c, addr: a})
	}
	return c
}

// Get fetches key's value: nil when it has none.
func (c *Client) Get(key string, fn func(value any, err error)) {
	o, err := getOp(key)
	c.do(o, err, fn)
}

// Set stores value under key.
func (c *Client) Set(key string, value any, fn func(err error)) {
	o, err := setOp(key, value)
	c.do(o, err, func(_ any, err error) { call1(fn, err) })
}

// Add stores value under key unless the key holds a value already; added
// tells which.
func (c *Client) Add(key string, value any, fn func(added bool, err error)) {
	o, err := addOp(key, value)
	c.do(o, err, func(v any, err error) { callBool(fn, v, err) })
}

// Increment adds step to key's value and returns the sum: an int64, or a
// float64 when the value was a float or the sum overflowed, as in PHP. A
// value that is not numeric counts as 0; a key without a value gives
// ErrNotFound.
func (c *Client) Increment(key string, step int64, fn func(value any, err error)) {
	o, err := incrementOp(key, step)
	c.do(o, err, fn)
}

// Cas stores new under key if its value is still old (nil for none):
// compare-and-swap, as Workerman's cas(). swapped tells whether it did.
func (c *Client) Cas(key string, old, new any, fn func(swapped bool, err error)) {
	o, err := casOp(key, old, new)
	c.do(o, err, func(v any, err error) { callBool(fn, v, err) })
}

// Delete removes key.
func (c *Client) Delete(key string, fn func(err error)) {
	o, err := deleteOp(key)
	c.do(o, err, func(_ any, err error) { call1(fn, err) })
}

// Close closes the connections; requests waiting get ErrClosed, and later
// ones too.
func (c *Client) Close() {
	if !c.loop.OnLoop() {
		c.loop.Post(c.Close)
		return
	}
	if c.closed {
		return
	}
	c.closed = true
	for _, s := range c.servers {
		s.close()
	}
}

func call1(fn func(error), err error) {
	if fn != nil {
		fn(err)
	}
}

func callBool(fn func(bool, error), v any, err error) {
	if fn != nil {
		b, _ := v.(bool)
		fn(b, err)
	}
}

// do queues o on its server's connection, on the loop.
func (c *Client) do(o op, err error, fn func(any, error)) {
	if fn == nil {
		fn = func(any, error) {}
	}
	if err != nil {
		c.loop.Post(func() { fn(nil, err) })
		return
	}
	if !c.loop.OnLoop() {
		c.loop.Post(func() { c.enqueue(o, fn) })
		return
	}
	c.enqueue(o, fn)
}

func (c *Client) enqueue(o op, fn func(any, error)) {
	if c.closed {
		c.loop.Post(func() { fn(nil, ErrClosed) })
		return
	}
	s := c.servers[shard(o.key, len(c.servers))]
	s.push(&call{op: o, done: fn, deadline: time.Now().Add(or(c.Timeout, DefaultTimeout))})
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// call is one request waiting for its reply.
type call struct {
	op
	done     func(any, error)
	deadline time.Time
}

// serverConn is the connection to one server. Loop-only.
type serverConn struct {
	c    *Client
	addr string
	conn *workerman.AsyncTcpConnection
	up   bool
	// pending are the requests in order; the first sent are on the wire,
	// the rest wait for the connection.
	pending []*call
	sent    int
	ping    workerman.TimerID
	check   workerman.TimerID
}

func (s *serverConn) push(cl *call) {
	if s.conn == nil {
		if err := s.open(); err != nil {
			s.c.loop.Post(func() { cl.done(nil, err) })
			return
		}
	}
	s.pending = append(s.pending, cl)
	if s.up {
		s.conn.Send(cl.payload)
		s.sent++
	}
}

// open creates the connection and starts it, with the timer that expires
// requests.
func (s *serverConn) open() error {
	network, address := serverAddr(s.addr)
	// A Unix socket's address is its path: frame:///path.
	conn, err := workerman.NewAsyncTcpConnection(s.c.loop, "frame://"+address)
	if err != nil {
		return fmt.Errorf("globaldata: server %q: %w", s.addr, err)
	}
	if network == "unix" {
		conn.Transport = "unix"
	}
	conn.OnConnect = func(*workerman.AsyncTcpConnection) { s.connected() }
	conn.OnMessage = func(_ *workerman.Connection, m workerman.Message) { s.reply(m.Data) }
	conn.OnClose = func(*workerman.Connection) { s.lost() }
	s.conn = conn
	timeout := or(s.c.Timeout, DefaultTimeout)
	s.check = s.c.loop.Timer().Add(max(timeout/10, 10*time.Millisecond), s.expire)
	conn.Connect()
	return nil
}

func (s *serverConn) connected() {
	s.up = true
	for _, cl := range s.pending[s.sent:] {
		s.conn.Send(cl.payload)
	}
	s.sent = len(s.pending)
	s.ping = s.c.loop.Timer().Add(or(s.c.PingInterval, DefaultPingInterval), func() {
		s.conn.SendString("ping")
	})
}

func (s *serverConn) reply(data []byte) {
	if s.sent == 0 {
		// A reply to nothing: the stream is out of step, so start over.
		s.conn.Reconnect(or(s.c.ReconnectInterval, DefaultReconnectInterval))
		return
	}
	cl := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	s.sent--
	v, err := cl.parse(data)
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("globaldata: server %s: %w", s.addr, err)
	}
	cl.done(v, err)
}

// lost runs when the connection closes or fails to open: the requests on
// the wire lose their replies; the others wait for the next connection.
func (s *serverConn) lost() {
	s.up = false
	s.c.loop.Timer().Del(s.ping)
	s.fail(s.sent, fmt.Errorf("%w: server %s", ErrConnectionLost, s.addr))
	if !s.c.closed {
		s.conn.Reconnect(or(s.c.ReconnectInterval, DefaultReconnectInterval))
	}
}

// fail ends the first n pending requests with err.
func (s *serverConn) fail(n int, err error) {
	done := slices.Clone(s.pending[:n])
	clear(s.pending[:n])
	s.pending = s.pending[n:]
	s.sent -= min(n, s.sent)
	for _, cl := range done {
		cl.done(nil, err)
	}
}

// expire ends the requests past their deadline. One on the wire takes the
// connection with it, since the replies after it would be out of step.
func (s *serverConn) expire() {
	now := time.Now()
	n := 0
	for n < len(s.pending) && now.After(s.pending[n].deadline) {
		n++
	}
	if n == 0 {
		return
	}
	err := fmt.Errorf("%w: server %s", ErrTimeout, s.addr)
	if inflight := s.sent; inflight > 0 {
		s.fail(inflight, err)
		n -= min(n, inflight)
		// Closing runs lost(), which schedules the reconnect.
		s.conn.Reconnect(or(s.c.ReconnectInterval, DefaultReconnectInterval))
	}
	s.fail(min(n, len(s.pending)), err)
}

func (s *serverConn) close() {
	if s.conn == nil {
		return
	}
	t := s.c.loop.Timer()
	t.Del(s.ping)
	t.Del(s.check)
	s.conn.CancelReconnect()
	s.fail(len(s.pending), ErrClosed)
	s.conn.Close()
}
