package channel

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// The frame backend: a connection to the stock "channel" handler, or to
// Workerman's own Channel\Server, in Workerman's Channel protocol (frames
// of PHP serialize()d arrays).
func init() {
	register("frame", dialFrame)
	register("unix", dialFrame)
}

// frameClient runs on the loop: every method posts its work there (or
// runs it at once when called on the loop), so whether an operation goes
// out or is held, and the restore after a connect, happen in one order.
type frameClient struct {
	st   *state
	addr string // frame://host:port, or frame:///path over "unix"
	unix bool

	// Loop-only.
	conn    *workerman.AsyncTcpConnection
	up      bool // connected, auth and restore sent
	failed  bool // a failed connect of this outage was reported
	ping    workerman.TimerID
	pinging bool
	buf     []byte
}

func dialFrame(loop *workerman.EventLoop, u *url.URL, o Options) (Client, error) {
	c := &frameClient{st: newState(loop, o)}
	switch u.Scheme {
	case "frame":
		if u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("channel: %q: want frame://host:port", u.Redacted())
		}
		c.addr = "frame://" + u.Host
	case "unix":
		if u.Path == "" || u.Host != "" {
			return nil, fmt.Errorf("channel: %q: want unix:///path/of/the.sock", u.Redacted())
		}
		c.addr, c.unix = "frame://"+u.Path, true
	}
	c.st.onLoop(c.start)
	return c, nil
}

func (c *frameClient) start() {
	if c.st.isClosed() {
		return
	}
	conn, err := workerman.NewAsyncTcpConnection(c.st.loop, c.addr)
	if err != nil {
		c.st.fail(fmt.Errorf("channel: connect %s: %w", c.addr, err))
		return
	}
	if c.unix {
		conn.Transport = "unix"
	}
	conn.OnConnect = func(*workerman.AsyncTcpConnection) { c.connected() }
	conn.OnMessage = func(_ *workerman.Connection, m workerman.Message) { c.message(m.Data) }
	conn.OnClose = func(*workerman.Connection) { c.closed() }
	conn.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
		if code == workerman.ConnectFail {
			if c.failed {
				return // once per outage, not at every retry
			}
			c.failed = true
		}
		c.st.fail(fmt.Errorf("channel: %s: %w", c.addr, err))
	}
	c.conn = conn
	c.ping = c.st.loop.Timer().Add(c.st.opts.PingInterval, func() {
		if c.up {
			c.conn.Send(nil) // an empty frame: the keep-alive
		}
	})
	c.pinging = true
	conn.Connect()
}

// connected authenticates, restores the subscriptions and the watches (and
// a reserve the lost connection was owed), then sends what waited.
func (c *frameClient) connected() {
	if c.st.isClosed() {
		return
	}
	c.failed = false
	if c.st.opts.Token != "" {
		b := append(c.buf[:0], `a:2:{s:4:"type";s:4:"auth";s:5:"token";`...)
		b, _ = phpserialize.Append(b, c.st.opts.Token)
		c.buf = append(b, '}')
		c.conn.Send(c.buf)
	}
	r := c.st.restore()
	if len(r.events) > 0 {
		c.write(op{kind: opSubscribe, names: r.events})
	}
	if len(r.queues) > 0 {
		c.write(op{kind: opWatch, names: r.queues})
	}
	if r.reserve {
		c.write(op{kind: opReserve})
	}
	for _, o := range c.st.drain() {
		c.write(o)
	}
	c.up = true
	c.st.connected()
}

func (c *frameClient) closed() {
	wasUp := c.up
	c.up = false
	if c.st.isClosed() {
		return
	}
	if wasUp {
		c.st.fail(fmt.Errorf("channel: connection to %s lost, reconnecting every %v", c.addr, c.st.opts.ReconnectInterval))
		c.st.disconnected()
	}
	c.conn.Reconnect(c.st.opts.ReconnectInterval)
}

// message reads an event or a queue item.
func (c *frameClient) message(payload []byte) {
	if len(payload) == 0 {
		return
	}
	// Workerman's server ends its messages with a newline; ours does not.
	if payload[len(payload)-1] == '\n' {
		payload = payload[:len(payload)-1]
	}
	kind, name, data, err := decodeMessage(payload)
	if err != nil {
		c.st.fail(fmt.Errorf("channel: from %s: %w", c.addr, err))
		return
	}
	switch kind {
	case "event":
		c.st.event(name, data)
	case "queue":
		if c.st.item(name, data) && c.up {
			c.write(op{kind: opReserve})
		}
	}
}

// decodeMessage reads a server's message: serialize(['type'=>'event' or
// 'queue', 'channel'=>…, 'data'=>…]).
func decodeMessage(payload []byte) (kind, name string, data any, err error) {
	v, err := phpserialize.Unmarshal(payload)
	if err != nil {
		return "", "", nil, err
	}
	a, ok := v.(*phpserialize.Array)
	if !ok {
		return "", "", nil, errors.New("a message that is not an array")
	}
	t, _ := a.Get("type")
	kind, _ = t.(string)
	if kind != "event" && kind != "queue" {
		return "", "", nil, fmt.Errorf("a message of type %v", t)
	}
	ch, _ := a.Get("channel")
	name, ok = eventName(ch)
	if !ok {
		return "", "", nil, fmt.Errorf("an %s whose channel is %T", kind, ch)
	}
	data, _ = a.Get("data")
	return kind, name, data, nil
}

// write sends one operation in the frame protocol. Loop-only, connected.
func (c *frameClient) write(o op) {
	c.buf = appendOp(c.buf[:0], o)
	c.conn.Send(c.buf)
}

// appendOp appends serialize(['type'=>…, 'channels'=>[…], 'data'=>…]),
// the data already serialized.
func appendOp(b []byte, o op) []byte {
	n := 1
	if o.kind != opReserve {
		n++
	}
	if o.data != nil {
		n++
	}
	b = append(b, 'a', ':', byte('0'+n), ':', '{')
	b = append(b, `s:4:"type";`...)
	b, _ = phpserialize.Append(b, o.kind.String())
	if o.kind != opReserve {
		b = append(b, `s:8:"channels";`...)
		b, _ = phpserialize.Append(b, o.names)
	}
	if o.data != nil {
		b = append(b, `s:4:"data";`...)
		b = append(b, o.data...)
	}
	return append(b, '}')
}

// do runs fn on the loop: at once when called there, else posted.
func (c *frameClient) do(fn func()) { c.st.onLoop(fn) }

// state sends an operation that changes what the server keeps for us:
// when not connected, the restore of the next connect sends it instead.
func (c *frameClient) state(kind opKind, names []string) {
	if c.up && !c.st.isClosed() {
		c.write(op{kind: kind, names: names})
	}
}

func (c *frameClient) On(event string, fn func(any)) {
	c.do(func() {
		c.st.on(event, fn)
		c.state(opSubscribe, []string{event})
	})
}

func (c *frameClient) Subscribe(events ...string) {
	if len(events) == 0 {
		return
	}
	events = append([]string(nil), events...)
	c.do(func() {
		c.st.subscribe(events)
		c.state(opSubscribe, events)
	})
}

func (c *frameClient) Unsubscribe(events ...string) {
	if len(events) == 0 {
		return
	}
	events = append([]string(nil), events...)
	c.do(func() {
		c.st.unsubscribe(events)
		c.state(opUnsubscribe, events)
	})
}

func (c *frameClient) Publish(data any, events ...string) error {
	return c.output(opPublish, data, events)
}

func (c *frameClient) PublishLoop(data any, events ...string) error {
	return c.output(opPublishLoop, data, events)
}

func (c *frameClient) Enqueue(data any, queues ...string) error {
	return c.output(opEnqueue, data, queues)
}

func (c *frameClient) output(kind opKind, data any, names []string) error {
	if c.st.isClosed() {
		return ErrClosed
	}
	o, err := newOp(kind, data, names)
	if err != nil {
		return err
	}
	c.do(func() {
		if c.up {
			c.write(o)
			return
		}
		_ = c.st.hold(o) // ErrClosed: Close came after the check above
	})
	return nil
}

func (c *frameClient) Watch(queue string, fn func(any), autoReserve bool) {
	c.do(func() {
		c.st.watch(queue, fn, autoReserve)
		c.state(opWatch, []string{queue})
		if autoReserve {
			c.state(opReserve, nil)
		}
	})
}

func (c *frameClient) Unwatch(queues ...string) {
	if len(queues) == 0 {
		return
	}
	queues = append([]string(nil), queues...)
	c.do(func() {
		c.st.unwatch(queues)
		c.state(opUnwatch, queues)
	})
}

func (c *frameClient) Reserve() {
	c.do(func() {
		c.st.reserve()
		c.state(opReserve, nil)
	})
}

func (c *frameClient) Close() {
	if !c.st.close() {
		return
	}
	c.do(func() {
		c.up = false
		if c.pinging {
			c.st.loop.Timer().Del(c.ping)
			c.pinging = false
		}
		if c.conn != nil {
			c.conn.CancelReconnect()
			c.conn.Close()
		}
	})
}
