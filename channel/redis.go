package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// The Redis backend (redis://[user:password@]host:port[/db][?prefix=p]).
//
// Where each Workerman operation goes, with the default prefix
// "workerman:" (prefix= in the URL changes it, prefix= empty drops it):
//
//	publish E        PUBLISH workerman:E <serialize(data)>: every
//	                 subscriber, the publisher's own handler included.
//	                 Another program reaches the subscribers with
//	                 redis-cli PUBLISH workerman:E 's:2:"hi";'.
//	publishLoop E    LPUSH workerman:loop:E, only when E has subscribers
//	                 (PUBSUB NUMSUB, in one script), with a 60 s expiry so
//	                 that items nobody takes do not stay: each subscriber
//	                 keeps a BRPOP on that list, and Redis hands an item
//	                 to the client that has waited longest, so the
//	                 subscribers take turns.
//	enqueue Q        LPUSH workerman:queue:Q: the list is the queue, FIFO.
//	watch/reserve    a reserved watcher keeps a BRPOP on the queue's list;
//	                 the item it pops spends the reserve, and no BRPOP is
//	                 issued until the next one: each reserve buys one item,
//	                 and one watcher gets each item.
//
// What differs from Workerman's channel server: items enqueued with no
// watcher stay in Redis (until they are taken, or Redis loses them: it keeps
// them across a restart only with persistence on), where Workerman's server
// keeps them in memory; a publishLoop item waits up to 60 s for a subscriber
// to take it instead of going at once to one that is subscribed; an item
// popped by a client whose connection is lost before the reply arrives is
// lost (at most once, as Workerman). Each subscribed event and each watched
// queue holds one Redis connection while its BRPOP waits.
//
// Nothing here runs on the loop but delivery: a goroutine receives the
// pub/sub connection, one sends what the client's methods queued (pipelined,
// in order), one per list waits in BRPOP, and every callback is posted to the
// loop.

func init() {
	register("redis", newRedisClient)
}

const (
	// redisDefaultPrefix namespaces the pub/sub channels and lists.
	redisDefaultPrefix = "workerman:"
	// redisPopWait bounds a BRPOP, so a popper notices an unwatch or an
	// unsubscribe that soon without an extra connection to interrupt it.
	redisPopWait = 2 * time.Second
	// redisLoopTTL is how long a publishLoop item may wait for a
	// subscriber to take it.
	redisLoopTTL = 60 * time.Second
	// redisAckWait bounds the wait for a SUBSCRIBE to be confirmed before
	// the output queued after it is sent.
	redisAckWait = 5 * time.Second
)

// redisLoopScript pushes a publishLoop item only when the event has
// subscribers, as Workerman's server drops a publish nobody listens to.
var redisLoopScript = redis.NewScript(`
local n = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2]
if n == 0 then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

type redisClient struct {
	s      *state
	rdb    *redis.Client
	ps     *redis.PubSub
	prefix string
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // wakes the sender

	mu      sync.Mutex
	up      bool
	acks    map[string][]chan struct{} // SUBSCRIBE confirmations awaited, by Redis channel
	poppers map[string]*redisPopper    // by list key
	subs    map[string]bool            // Redis channels subscribed; the sender's
	wg      sync.WaitGroup             // the goroutines, for Close
}

// redisPopper is the goroutine that BRPOPs one list for this client.
type redisPopper struct {
	queue string // the queue's name; "" for an event's publishLoop list
	event string
	stop  chan struct{}
	wake  chan struct{} // a reserve made the queue ready
}

func newRedisClient(loop *workerman.EventLoop, u *url.URL, o Options) (Client, error) {
	prefix := redisDefaultPrefix
	q := u.Query()
	if q.Has("prefix") {
		prefix = q.Get("prefix")
		q.Del("prefix")
	}
	u2 := *u
	u2.RawQuery = q.Encode()
	ropts, err := redis.ParseURL(u2.String())
	if err != nil {
		return nil, fmt.Errorf("channel: redis URL %q: %w", u.Redacted(), err)
	}
	// At most once, as Workerman: a retried PUBLISH or LPUSH whose first
	// attempt reached Redis would deliver twice.
	ropts.MaxRetries = -1
	// Each waiting BRPOP holds a connection; the pool opens them lazily.
	ropts.PoolSize = 1024
	ropts.DialTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	c := &redisClient{
		s:       newState(loop, o),
		rdb:     redis.NewClient(ropts),
		prefix:  prefix,
		addr:    ropts.Addr,
		ctx:     ctx,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
		acks:    map[string][]chan struct{}{},
		poppers: map[string]*redisPopper{},
		subs:    map[string]bool{},
	}
	// No channel yet: the connection is made by the receiver's first PING.
	c.ps = c.rdb.Subscribe(ctx)
	c.wg.Add(2)
	go c.receive()
	go c.send()
	return c, nil
}

func (c *redisClient) eventChannel(e string) string { return c.prefix + e }
func (c *redisClient) loopKey(e string) string      { return c.prefix + "loop:" + e }
func (c *redisClient) queueKey(q string) string     { return c.prefix + "queue:" + q }

func (c *redisClient) wakeSender() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *redisClient) On(event string, fn func(data any)) {
	c.s.on(event, fn)
	c.changed()
}

func (c *redisClient) Subscribe(events ...string) {
	c.s.subscribe(events)
	c.changed()
}

func (c *redisClient) Unsubscribe(events ...string) {
	c.s.unsubscribe(events)
	c.changed()
}

func (c *redisClient) Publish(data any, events ...string) error {
	return c.output(opPublish, data, events)
}

func (c *redisClient) PublishLoop(data any, events ...string) error {
	return c.output(opPublishLoop, data, events)
}

func (c *redisClient) Enqueue(data any, queues ...string) error {
	return c.output(opEnqueue, data, queues)
}

func (c *redisClient) output(kind opKind, data any, names []string) error {
	o, err := newOp(kind, data, names)
	if err != nil {
		return err
	}
	if err := c.s.hold(o); err != nil {
		return err
	}
	c.wakeSender()
	return nil
}

func (c *redisClient) Watch(queue string, fn func(data any), autoReserve bool) {
	c.s.watch(queue, fn, autoReserve)
	c.changed()
	c.wakePoppers()
}

func (c *redisClient) Unwatch(queues ...string) {
	c.s.unwatch(queues)
	c.changed()
}

func (c *redisClient) Reserve() {
	c.s.reserve()
	c.wakePoppers()
}

func (c *redisClient) Close() {
	if !c.s.close() {
		return
	}
	c.cancel()
	c.mu.Lock()
	for k, p := range c.poppers {
		close(p.stop)
		delete(c.poppers, k)
	}
	c.mu.Unlock()
	// Closing the pub/sub connection ends the receiver's read; the rest
	// notice the cancelled context within redisPopWait.
	go func() {
		_ = c.ps.Close()
		c.wg.Wait()
		_ = c.rdb.Close()
	}()
}

// changed brings the poppers in line with the subscriptions and watches
// (starting a goroutine does not block) and has the sender do the same
// for the pub/sub subscriptions.
func (c *redisClient) changed() {
	if c.s.isClosed() {
		return
	}
	want := map[string]*redisPopper{}
	c.s.mu.Lock()
	for e := range c.s.events {
		if c.s.opts.eventsOnly {
			break
		}
		want[c.loopKey(e)] = &redisPopper{event: e}
	}
	for q := range c.s.queues {
		want[c.queueKey(q)] = &redisPopper{queue: q}
	}
	c.s.mu.Unlock()
	c.mu.Lock()
	for k, p := range c.poppers {
		if _, ok := want[k]; !ok {
			close(p.stop)
			delete(c.poppers, k)
		}
	}
	for k, p := range want {
		if _, ok := c.poppers[k]; ok {
			continue
		}
		p.stop, p.wake = make(chan struct{}), make(chan struct{}, 1)
		c.poppers[k] = p
		c.wg.Add(1)
		go c.pop(k, p)
	}
	c.mu.Unlock()
	c.wakeSender()
}

func (c *redisClient) wakePoppers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.poppers {
		if p.queue != "" {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (c *redisClient) isUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// sleep waits d unless the client closes first; false when it closed.
func (c *redisClient) sleep(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-c.ctx.Done():
		return false
	}
}

// receive reads the pub/sub connection: events, SUBSCRIBE confirmations,
// and the PONGs by which it tells that the connection is up. go-redis
// redials a broken pub/sub connection and subscribes it again to every
// channel it knows, at the next read; a PING after that read failed is how
// this loop tries again every ReconnectInterval.
func (c *redisClient) receive() {
	defer c.wg.Done()
	pingEvery := c.s.opts.PingInterval
	var pinged, reported bool
	down := func(err error) bool {
		pinged = false
		c.mu.Lock()
		was := c.up
		c.up = false
		c.mu.Unlock()
		if was {
			c.s.disconnected()
		}
		if !reported {
			reported = true
			c.s.fail(fmt.Errorf("channel: redis %s: %w (retrying every %s)", c.addr, err, c.s.opts.ReconnectInterval))
		}
		return c.sleep(c.s.opts.ReconnectInterval, nil)
	}
	for c.ctx.Err() == nil {
		if !pinged {
			if err := c.ps.Ping(c.ctx); err != nil {
				if c.ctx.Err() != nil || !down(err) {
					return
				}
				continue
			}
			pinged = true
		}
		msg, err := c.ps.ReceiveTimeout(c.ctx, pingEvery)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet for a PingInterval: a PING tells a live
				// connection from one that died silently.
				pinged = false
				continue
			}
			if !down(err) {
				return
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Pong:
			c.mu.Lock()
			was := c.up
			c.up = true
			c.mu.Unlock()
			if !was {
				// The PING went after the re-subscription on the same
				// connection, so the subscriptions are back.
				reported = false
				c.wakeSender()
				c.s.connected()
			}
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.mu.Lock()
				for _, ch := range c.acks[m.Channel] {
					close(ch)
				}
				delete(c.acks, m.Channel)
				c.mu.Unlock()
			}
		case *redis.Message:
			c.deliverEvent(m.Channel[min(len(c.prefix), len(m.Channel)):], []byte(m.Payload))
		}
	}
}

// deliverEvent decodes off the loop and runs the handler on it.
func (c *redisClient) deliverEvent(event string, payload []byte) {
	v, err := phpserialize.Unmarshal(payload)
	if err != nil {
		c.s.fail(fmt.Errorf("channel: redis: event %q: %w", event, err))
		return
	}
	c.s.loop.Post(func() { c.s.event(event, v) })
}

// send subscribes and unsubscribes the pub/sub connection to match the
// client's events, then sends the queued output in one pipeline, each
// time it is woken while the connection is up. Subscriptions go first and
// are confirmed before the output that was queued after them, so a
// client's own publish reaches its new subscription, as on the channel
// server's one connection.
func (c *redisClient) send() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		}
		if !c.isUp() {
			continue // the receiver wakes us once connected
		}
		if err := c.syncSubscriptions(); err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.s.fail(fmt.Errorf("channel: redis %s: subscribe: %w", c.addr, err))
			continue
		}
		ops := c.s.drain()
		if len(ops) == 0 {
			continue
		}
		_, err := c.rdb.Pipelined(c.ctx, func(p redis.Pipeliner) error {
			for _, o := range ops {
				for _, n := range o.names {
					switch o.kind {
					case opPublish:
						p.Publish(c.ctx, c.eventChannel(n), o.data)
					case opPublishLoop:
						// EVAL, not EVALSHA: a pipeline cannot fall back
						// when Redis does not have the script yet.
						redisLoopScript.Eval(c.ctx, p, []string{c.loopKey(n)}, c.eventChannel(n), o.data, redisLoopTTL.Milliseconds())
					case opEnqueue:
						p.LPush(c.ctx, c.queueKey(n), o.data)
					}
				}
			}
			return nil
		})
		if err != nil && c.ctx.Err() == nil {
			c.s.fail(fmt.Errorf("channel: redis %s: %d operations, some may be lost: %w", c.addr, len(ops), err))
		}
	}
}

// syncSubscriptions makes the pub/sub connection's channels the client's
// events and waits for new ones to be confirmed.
func (c *redisClient) syncSubscriptions() error {
	want := map[string]bool{}
	c.s.mu.Lock()
	for e := range c.s.events {
		want[c.eventChannel(e)] = true
	}
	c.s.mu.Unlock()
	var add, del []string
	for ch := range want {
		if !c.subs[ch] {
			add = append(add, ch)
		}
	}
	for ch := range c.subs {
		if !want[ch] {
			del = append(del, ch)
		}
	}
	if len(del) > 0 {
		if err := c.ps.Unsubscribe(c.ctx, del...); err != nil {
			return err
		}
		for _, ch := range del {
			delete(c.subs, ch)
		}
	}
	if len(add) == 0 {
		return nil
	}
	waits := make([]chan struct{}, len(add))
	c.mu.Lock()
	for i, ch := range add {
		waits[i] = make(chan struct{})
		c.acks[ch] = append(c.acks[ch], waits[i])
	}
	c.mu.Unlock()
	// go-redis records the channels even when the write fails, and
	// subscribes them again on its next connection.
	for _, ch := range add {
		c.subs[ch] = true
	}
	if err := c.ps.Subscribe(c.ctx, add...); err != nil {
		return err
	}
	deadline := time.NewTimer(redisAckWait)
	defer deadline.Stop()
	for i, w := range waits {
		select {
		case <-w:
		case <-deadline.C:
			return fmt.Errorf("no confirmation of SUBSCRIBE %s within %s", add[i], redisAckWait)
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	return nil
}

// queueReady reports whether q is watched and reserved; take spends the
// reserve, so that one reserve buys one item.
func (c *redisClient) queueReady(q string, take bool) bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	w := c.s.queues[q]
	if w == nil || !w.ready {
		return false
	}
	if take {
		w.ready = false
	}
	return true
}

// pop waits in BRPOP on one list: an event's publishLoop list for as long
// as the event is subscribed, a queue's list while it is reserved.
func (c *redisClient) pop(key string, p *redisPopper) {
	defer c.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-c.ctx.Done():
			return
		default:
		}
		if p.queue != "" && !c.queueReady(p.queue, false) {
			select {
			case <-p.stop:
				return
			case <-c.ctx.Done():
				return
			case <-p.wake:
			}
			continue
		}
		res, err := c.rdb.BRPop(c.ctx, redisPopWait, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			// The receiver reports the outage; wait as it does.
			if !c.sleep(c.s.opts.ReconnectInterval, p.stop) {
				return
			}
			continue
		}
		item := []byte(res[1])
		stopped := false
		select {
		case <-p.stop:
			stopped = true
		default:
		}
		if stopped || (p.queue != "" && !c.queueReady(p.queue, true)) {
			// Unwatched or unsubscribed while the BRPOP waited: the item
			// goes back to the end it was taken from, first in line.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.rdb.RPush(ctx, key, item).Err()
			cancel()
			if err != nil {
				c.s.fail(fmt.Errorf("channel: redis %s: an item of %s taken after unwatch could not be put back: %w", c.addr, key, err))
			}
			if stopped {
				return
			}
			continue
		}
		v, err := phpserialize.Unmarshal(item)
		if err != nil {
			c.s.fail(fmt.Errorf("channel: redis: %s: %w", key, err))
			continue
		}
		if p.queue != "" {
			q := p.queue
			c.s.loop.Post(func() {
				if c.s.item(q, v) {
					c.wakePoppers()
				}
			})
		} else {
			e := p.event
			c.s.loop.Post(func() { c.s.event(e, v) })
		}
	}
}
