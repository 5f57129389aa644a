package channel

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// The NATS backend (nats://[user:password@]host:port[?prefix=p]), on NATS
// core: any nats-server serves it, JetStream or not.
//
// Where each Workerman operation goes, with the default prefix "workerman"
// (names are subject tokens: bytes other than letters, digits, _ and - are
// written %XX, so an event "a.b" is one token, a%2Eb):
//
//	publish E        subject workerman.event.E: every subscriber, the
//	                 publisher's own handler included.
//	publishLoop E    subject workerman.loop.E, which each subscriber of E
//	                 also takes in the queue group "workerman": NATS gives
//	                 each message to one member of the group, chosen at
//	                 random, not in turn as Workerman's server does.
//	enqueue Q        subject workerman.queue.Q.
//	watch Q          a subscription in the queue group "workerman" for as
//	                 long as Q is watched: NATS gives each item to one
//	                 watcher, which holds it until it is reserved; each
//	                 reserve releases one item (or marks the queue ready,
//	                 and the next item goes straight to the handler).
//
// Why not subscribe to the group only while reserved: NATS core keeps
// nothing, so an item published in the gap between one item and the next
// reserve, when no other watcher happened to be subscribed, would be lost;
// holding items at the watcher loses nothing while anyone watches. JetStream
// would keep items for a later watcher, as Workerman's server does, but needs
// a server with JetStream enabled and a stream configured for it; Workerman's
// own queue is not persistent either.
//
// What differs from Workerman's channel server, then: an item enqueued while
// no process watches the queue is lost (Workerman's server keeps it until a
// watcher comes); an item goes to a watcher chosen when it is published, not
// to the first one that is ready, so a busy watcher can hold items an idle
// one could have taken (an unwatch publishes what it held again, for the
// other watchers); publishLoop picks at random. While the connection is down,
// nats.go buffers output (8 MiB) and resends subscriptions and watches on
// reconnect; items published meanwhile by others are lost to this client.

func init() {
	register("nats", newNatsClient)
}

const (
	natsDefaultPrefix = "workerman"
	// natsGroup is the queue group of publishLoop and queue subscribers.
	natsGroup = "workerman"
)

type natsClient struct {
	s      *state
	prefix string
	url    string
	kick   chan struct{}
	done   chan struct{} // closed by Close
	// announced is set once the first connection was reported, so the
	// two paths that may see it (connect returning connected, or the
	// connect callback of a retried first connect) report it once.
	announced atomic.Bool

	mu     sync.Mutex
	nc     *nats.Conn
	events map[string][2]*nats.Subscription // event → its subject, its loop subject
	queues map[string]*natsQueue
}

// natsQueue is a watched queue: its subscription and the items NATS gave
// this watcher that no reserve has bought yet.
type natsQueue struct {
	sub  *nats.Subscription
	held []natsItem
}

type natsItem struct {
	raw []byte
	v   any
}

func newNatsClient(loop *workerman.EventLoop, u *url.URL, o Options) (Client, error) {
	prefix := natsDefaultPrefix
	q := u.Query()
	if q.Has("prefix") {
		prefix = q.Get("prefix")
	}
	if prefix == "" || strings.ContainsAny(prefix, " \t\r\n*>") || strings.HasPrefix(prefix, ".") || strings.HasSuffix(prefix, ".") {
		return nil, fmt.Errorf("channel: nats URL %q: prefix %q is not a subject", u.Redacted(), prefix)
	}
	u2 := *u
	u2.RawQuery = ""
	c := &natsClient{
		s:      newState(loop, o),
		prefix: prefix,
		url:    u2.String(),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		events: map[string][2]*nats.Subscription{},
		queues: map[string]*natsQueue{},
	}
	go c.connect(o)
	return c, nil
}

// natsToken writes a name as one subject token.
func natsToken(name string) string {
	if name == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-':
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func (c *natsClient) subject(kind, name string) string {
	return c.prefix + "." + kind + "." + natsToken(name)
}

// connect dials on its own goroutine (the first dial blocks) and hands the
// connection to the sender. nats.go then keeps it up: it reconnects every
// ReconnectInterval without limit and subscribes again to everything, the
// queue subscriptions of watches included.
func (c *natsClient) connect(o Options) {
	nc, err := nats.Connect(c.url,
		nats.Name("workermand channel"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectInterval),
		nats.PingInterval(o.PingInterval),
		nats.ConnectHandler(func(*nats.Conn) { c.wake() }),
		nats.ReconnectHandler(func(*nats.Conn) {
			// nats.go resent the subscriptions before calling this.
			c.s.connected()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if c.s.isClosed() {
				return
			}
			if err != nil {
				c.s.fail(fmt.Errorf("channel: nats %s: %w (reconnecting every %s)", c.url, err, o.ReconnectInterval))
			}
			c.s.disconnected()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			what := ""
			if sub != nil {
				what = " on " + sub.Subject
			}
			c.s.fail(fmt.Errorf("channel: nats %s%s: %w", c.url, what, err))
		}),
	)
	if err != nil {
		// Only a malformed URL or option fails with RetryOnFailedConnect.
		c.s.fail(fmt.Errorf("channel: nats %s: %w", c.url, err))
		return
	}
	c.mu.Lock()
	if c.s.isClosed() {
		c.mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.mu.Unlock()
	go c.send()
	c.wake()
}

func (c *natsClient) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *natsClient) On(event string, fn func(data any)) {
	c.s.on(event, fn)
	c.wake()
}

func (c *natsClient) Subscribe(events ...string) {
	c.s.subscribe(events)
	c.wake()
}

func (c *natsClient) Unsubscribe(events ...string) {
	c.s.unsubscribe(events)
	c.wake()
}

func (c *natsClient) Publish(data any, events ...string) error {
	return c.output(opPublish, data, events)
}

func (c *natsClient) PublishLoop(data any, events ...string) error {
	return c.output(opPublishLoop, data, events)
}

func (c *natsClient) Enqueue(data any, queues ...string) error {
	return c.output(opEnqueue, data, queues)
}

func (c *natsClient) output(kind opKind, data any, names []string) error {
	o, err := newOp(kind, data, names)
	if err != nil {
		return err
	}
	if err := c.s.hold(o); err != nil {
		return err
	}
	c.wake()
	return nil
}

func (c *natsClient) Watch(queue string, fn func(data any), autoReserve bool) {
	c.s.watch(queue, fn, autoReserve)
	c.wake()
	c.release()
}

func (c *natsClient) Unwatch(queues ...string) {
	c.s.unwatch(queues)
	c.wake()
}

func (c *natsClient) Reserve() {
	c.s.reserve()
	c.release()
}

func (c *natsClient) Close() {
	if !c.s.close() {
		return
	}
	close(c.done)
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if nc != nil {
		// Close flushes what is buffered: not on the caller's goroutine.
		go nc.Close()
	}
}

// send brings the subscriptions in line with the client's events and
// watches, then publishes the queued output, each time it is woken. NATS
// handles one connection's messages in order, so a subscription made before
// a publish of the same client receives it.
func (c *natsClient) send() {
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		}
		c.mu.Lock()
		nc := c.nc
		c.mu.Unlock()
		changed, err := c.syncSubscriptions(nc)
		if err != nil {
			c.s.fail(fmt.Errorf("channel: nats %s: %w", c.url, err))
		}
		if changed || !c.announced.Load() {
			// A round trip, so that what others publish after OnConnect
			// or after this subscription finds it in place.
			if err := nc.Flush(); err != nil {
				if nc.IsConnected() {
					c.s.fail(fmt.Errorf("channel: nats %s: flush: %w", c.url, err))
				}
			}
		}
		for _, o := range c.s.drain() {
			kind := "event"
			switch o.kind {
			case opPublishLoop:
				kind = "loop"
			case opEnqueue:
				kind = "queue"
			}
			for _, n := range o.names {
				if err := nc.Publish(c.subject(kind, n), o.data); err != nil {
					c.s.fail(fmt.Errorf("channel: nats %s: %s %q: %w", c.url, o.kind, n, err))
				}
			}
		}
		if nc.IsConnected() && c.announced.CompareAndSwap(false, true) {
			c.s.connected()
		}
	}
}

// syncSubscriptions subscribes and unsubscribes to match the client's
// events and watches; only the sender calls it.
func (c *natsClient) syncSubscriptions(nc *nats.Conn) (changed bool, err error) {
	c.s.mu.Lock()
	wantEvents := make(map[string]bool, len(c.s.events))
	for e := range c.s.events {
		wantEvents[e] = true
	}
	wantQueues := make(map[string]bool, len(c.s.queues))
	for q := range c.s.queues {
		wantQueues[q] = true
	}
	c.s.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	var firstErr error
	keep := func(e error) {
		if firstErr == nil {
			firstErr = e
		}
	}
	for e, subs := range c.events {
		if !wantEvents[e] {
			changed = true
			for _, s := range subs {
				if s != nil {
					_ = s.Unsubscribe()
				}
			}
			delete(c.events, e)
		}
	}
	for e := range wantEvents {
		if _, ok := c.events[e]; ok {
			continue
		}
		changed = true
		ev, loop := e, e
		s1, err := nc.Subscribe(c.subject("event", e), func(m *nats.Msg) { c.deliverEvent(ev, m.Data) })
		if err != nil {
			keep(fmt.Errorf("subscribe %q: %w", e, err))
			continue
		}
		var s2 *nats.Subscription
		if !c.s.opts.eventsOnly {
			s2, err = nc.QueueSubscribe(c.subject("loop", e), natsGroup, func(m *nats.Msg) { c.deliverEvent(loop, m.Data) })
			if err != nil {
				_ = s1.Unsubscribe()
				keep(fmt.Errorf("subscribe %q (publishLoop): %w", e, err))
				continue
			}
		}
		c.events[e] = [2]*nats.Subscription{s1, s2}
	}
	for q, nq := range c.queues {
		if wantQueues[q] {
			continue
		}
		changed = true
		_ = nq.sub.Unsubscribe()
		delete(c.queues, q)
		// What this watcher held goes back to the other watchers.
		for _, it := range nq.held {
			if err := nc.Publish(c.subject("queue", q), it.raw); err != nil {
				keep(fmt.Errorf("unwatch %q: an item held could not be handed back: %w", q, err))
			}
		}
	}
	for q := range wantQueues {
		if _, ok := c.queues[q]; ok {
			continue
		}
		changed = true
		name := q
		sub, err := nc.QueueSubscribe(c.subject("queue", q), natsGroup, func(m *nats.Msg) { c.queueItem(name, m.Data) })
		if err != nil {
			keep(fmt.Errorf("watch %q: %w", q, err))
			continue
		}
		c.queues[q] = &natsQueue{sub: sub}
	}
	return changed, firstErr
}

// deliverEvent decodes on the subscription's goroutine and runs the
// handler on the loop.
func (c *natsClient) deliverEvent(event string, payload []byte) {
	v, err := phpserialize.Unmarshal(payload)
	if err != nil {
		c.s.fail(fmt.Errorf("channel: nats: event %q: %w", event, err))
		return
	}
	c.s.loop.Post(func() { c.s.event(event, v) })
}

// queueItem is an item NATS gave this watcher: straight to the handler
// when the queue is reserved and nothing is held before it, else held.
func (c *natsClient) queueItem(q string, payload []byte) {
	v, err := phpserialize.Unmarshal(payload)
	if err != nil {
		c.s.fail(fmt.Errorf("channel: nats: queue %q: %w", q, err))
		return
	}
	it := natsItem{raw: payload, v: v}
	c.mu.Lock()
	nq, nc := c.queues[q], c.nc
	switch {
	case nq == nil:
		// Unwatched since NATS gave it to us: back to the other watchers.
		c.mu.Unlock()
		if err := nc.Publish(c.subject("queue", q), payload); err != nil {
			c.s.fail(fmt.Errorf("channel: nats: unwatch %q: an item could not be handed back: %w", q, err))
		}
		return
	case len(nq.held) >= c.s.opts.MaxPending:
		c.mu.Unlock()
		c.s.fail(fmt.Errorf("%w: an item of queue %q (%d held, none reserved)", ErrDropped, q, c.s.opts.MaxPending))
		return
	}
	nq.held = append(nq.held, it)
	c.mu.Unlock()
	c.release()
}

// release hands each reserved queue the first item it holds, spending the
// reserve: one reserve, one item.
func (c *natsClient) release() {
	var out []func()
	c.mu.Lock()
	c.s.mu.Lock()
	for q, nq := range c.queues {
		if len(nq.held) == 0 {
			continue
		}
		w := c.s.queues[q]
		if w == nil || !w.ready {
			continue
		}
		w.ready = false
		it := nq.held[0]
		nq.held[0] = natsItem{}
		nq.held = nq.held[1:]
		queue, v := q, it.v
		out = append(out, func() {
			if c.s.item(queue, v) {
				c.release()
			}
		})
	}
	c.s.mu.Unlock()
	c.mu.Unlock()
	for _, fn := range out {
		c.s.loop.Post(fn)
	}
}
