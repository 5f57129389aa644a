// Package channel is the stock "channel" handler: Workerman's Channel
// server (manual 1.15.2), speaking its protocol exactly, so PHP programs
// using Workerman's Channel client, php-fpm code that only publishes
// included, share it with Go programs using package
// github.com/workermand/workermand/channel.
//
//	[[worker]]
//	name    = "ChannelServer"
//	listen  = "frame://127.0.0.1:2206"
//	handler = "channel"
//	[worker.options]
//	token = "…"          # required when listen is not loopback
//
// The protocol: frames (a 4-byte big-endian length counting itself, then
// the payload), each payload PHP serialize() of an array with a type:
// subscribe, unsubscribe, publish, publishLoop, watch, unwatch, enqueue
// (channels, and data for the publishing ones) or reserve. The server
// sends event and queue messages (channel, data), without the newline
// Workerman's server appends (PHP 8.3's unserialize() warns about it). An
// empty frame is a keep-alive. Subscriptions and queues live in memory: a
// restart or reload loses them (clients subscribe and watch again when
// they reconnect), and queued items are lost, as with Workerman. It runs
// one process (count above 1 is refused): every client must reach the
// same one.
//
// A token authenticates clients: with token set, the first non-empty frame
// of a connection must be serialize(['type'=>'auth','token'=>…]), or the
// connection is closed. Workerman has no such message, so a PHP client
// writes that one frame itself after connecting (the Go client sends it
// from Options.Token). A bind that is not loopback (nor a Unix socket)
// requires a token unless trust_network is set, for a private network
// whose firewall is the only guard.
//
// A payload that does not decode, an unknown type or a wrong token
// closes that connection and is counted (BadRequests, and status's
// protocol_errors) and logged; it never stops the server.
package channel

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("channel", func() workerman.Handler { return &Handler{} })
}

// Handler is the channel server's handler. Its options are fields, so a
// program sets them in code as a config file does in [worker.options].
type Handler struct {
	// Token, when set, is required from every client as its first message.
	Token string `toml:"token"`
	// TrustNetwork serves a bind that is not loopback without a token.
	TrustNetwork bool `toml:"trust_network"`
	// MaxQueueItems bounds the items each queue keeps for its watchers
	// (0: no bound, as Workerman); an enqueue beyond it is dropped and
	// counted.
	MaxQueueItems int `toml:"max_queue_items"`

	srv *server
}

var (
	_ workerman.Handler   = (*Handler)(nil)
	_ workerman.Validator = (*Handler)(nil)
)

// Validate checks the options.
func (h *Handler) Validate() error {
	if h.MaxQueueItems < 0 {
		return fmt.Errorf("max_queue_items = %d: want 0 (no bound) or more", h.MaxQueueItems)
	}
	if strings.ContainsAny(h.Token, "\x00") {
		return errors.New("token: contains a NUL byte")
	}
	return nil
}

// NewServer returns Workerman's Channel\Server as a worker: named
// "ChannelServer", count 1, on listen, which is "frame://ip:port" or a
// Unix socket "unix:///path" (served with the frame protocol). To set a
// token, replace its Handler with &channel.Handler{Token: …}.
func NewServer(listen string) *workerman.Worker {
	w := workerman.NewWorker(listen)
	if path, ok := strings.CutPrefix(listen, "unix://"); ok {
		w.ListenAddr = "frame://" + path
		w.Transport = "unix"
	}
	w.Name = "ChannelServer"
	w.Count = 1
	w.Handler = &Handler{}
	return w
}

// Attach serves the channel protocol on w, a frame:// worker.
func (h *Handler) Attach(w *workerman.Worker) error {
	if p := w.Protocol(); p != "frame" {
		return fmt.Errorf("channel: the worker speaks %s, not frame (listen = \"frame://ip:port\", or frame:///path with transport = \"unix\")", p)
	}
	if w.Count > 1 {
		// Each process would keep its own subscriptions and queues, and
		// clients reach one process or the other: events would be lost.
		return fmt.Errorf("channel: count = %d: the channel server runs one process (count = 1)", w.Count)
	}
	if h.Token == "" && !h.TrustNetwork && w.SocketPath() == "" && w.Transport != "unix" {
		if host, ok := listenHost(w.ListenAddr); !ok || !loopback(host) {
			return fmt.Errorf("channel: %s is not a loopback address: set a token (or trust_network = true for a private network)", w.ListenAddr)
		}
	}
	srv := &server{h: h, w: w, channels: map[string]*subscribers{}, queues: map[string]*queue{}}
	h.srv = srv
	w.OnConnect = srv.connect
	w.OnMessage = srv.message
	w.OnClose = srv.close
	return nil
}

// BadRequests is the number of connections closed for a bad payload or
// token, and DroppedItems the enqueued items dropped by MaxQueueItems.
// Loop-only.
func (h *Handler) BadRequests() uint64 {
	if h.srv == nil {
		return 0
	}
	return h.srv.bad
}

// DroppedItems: see BadRequests.
func (h *Handler) DroppedItems() uint64 {
	if h.srv == nil {
		return 0
	}
	return h.srv.dropped
}

func listenHost(addr string) (string, bool) {
	_, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return "", false
	}
	host, _, err := net.SplitHostPort(rest)
	return host, err == nil
}

func loopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// server is the state of one channel server, on its loop.
type server struct {
	h        *Handler
	w        *workerman.Worker
	channels map[string]*subscribers
	queues   map[string]*queue
	bad      uint64
	dropped  uint64
	buf      []byte
}

// peer is what the server keeps of a connection.
type peer struct {
	c        *workerman.Connection
	authed   bool
	rejected bool // closing: the frames that follow are not served
	channels map[string]struct{}
	watches  map[string]struct{}
}

// subscribers of a channel, in the order they subscribed (a PHP array
// keyed by connection id), with publishLoop's position.
type subscribers struct {
	conns []*peer
	pos   int
}

func (s *subscribers) add(c *peer) {
	for _, x := range s.conns {
		if x == c {
			return
		}
	}
	s.conns = append(s.conns, c)
}

func (s *subscribers) remove(c *peer) {
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			if i < s.pos {
				s.pos--
			}
			return
		}
	}
}

// next is publishLoop's choice, PHP's next() else reset() on the array:
// the position moves first, so a fresh channel's first item goes to its
// second subscriber, then round the list.
func (s *subscribers) next() *peer {
	s.pos++
	if s.pos >= len(s.conns) {
		s.pos = 0
	}
	return s.conns[s.pos]
}

// queue is one work queue: its items (serialized), its watchers and those
// that reserved an item (the ready set, in the order they reserved).
type queue struct {
	raw      any
	items    [][]byte
	head     int
	watchers map[*peer]struct{}
	ready    []*peer
}

func (q *queue) empty() bool { return len(q.watchers) == 0 && q.head == len(q.items) }

func (q *queue) unready(c *peer) {
	for i, x := range q.ready {
		if x == c {
			q.ready = append(q.ready[:i], q.ready[i+1:]...)
			return
		}
	}
}

func (s *server) connect(c *workerman.Connection) {
	c.Context = &peer{c: c, authed: s.h.Token == "", channels: map[string]struct{}{}, watches: map[string]struct{}{}}
}

func (s *server) message(c *workerman.Connection, m workerman.Message) {
	cl, ok := c.Context.(*peer)
	if !ok || cl.rejected || len(m.Data) == 0 {
		return // the keep-alive, or what follows a bad frame
	}
	r, err := decodeRequest(m.Data)
	if err != nil {
		s.reject(cl, err)
		return
	}
	if !cl.authed {
		if r.kind != "auth" || subtle.ConstantTimeCompare([]byte(r.token), []byte(s.h.Token)) != 1 {
			s.reject(cl, errors.New("the first message is not auth with the server's token"))
			return
		}
		cl.authed = true
		return
	}
	switch r.kind {
	case "auth":
		// A client with a token talks to a server without one, or
		// authenticates twice: nothing to do.
	case "subscribe":
		for _, n := range r.channels {
			sub := s.channels[n.key]
			if sub == nil {
				sub = &subscribers{}
				s.channels[n.key] = sub
			}
			sub.add(cl)
			cl.channels[n.key] = struct{}{}
		}
	case "unsubscribe":
		for _, n := range r.channels {
			s.unsubscribe(cl, n.key)
		}
	case "publish":
		for _, n := range r.channels {
			sub := s.channels[n.key]
			if sub == nil {
				continue
			}
			s.buf = appendMessage(s.buf[:0], "event", n.raw, r.data)
			for _, x := range sub.conns {
				x.c.Send(s.buf)
			}
		}
	case "publishLoop":
		for _, n := range r.channels {
			sub := s.channels[n.key]
			if sub == nil {
				continue
			}
			s.buf = appendMessage(s.buf[:0], "event", n.raw, r.data)
			sub.next().c.Send(s.buf)
		}
	case "watch":
		for _, n := range r.channels {
			q := s.queue(n)
			q.watchers[cl] = struct{}{}
			cl.watches[n.key] = struct{}{}
		}
	case "unwatch":
		for _, n := range r.channels {
			s.unwatch(cl, n.key)
		}
	case "enqueue":
		for _, n := range r.channels {
			q := s.queue(n)
			if s.h.MaxQueueItems > 0 && len(q.items)-q.head >= s.h.MaxQueueItems {
				s.dropped++
				continue
			}
			q.items = append(q.items, r.data)
			s.dispatch(n.key, q)
		}
	case "reserve":
		for key := range cl.watches {
			q := s.queues[key]
			if q == nil {
				continue
			}
			ready := false
			for _, x := range q.ready {
				ready = ready || x == cl
			}
			if !ready {
				q.ready = append(q.ready, cl)
			}
			s.dispatch(key, q)
		}
	}
}

// queue returns the queue of n, made on first use.
func (s *server) queue(n name) *queue {
	q := s.queues[n.key]
	if q == nil {
		q = &queue{raw: n.raw, watchers: map[*peer]struct{}{}}
		s.queues[n.key] = q
	}
	return q
}

// dispatch hands items to ready watchers, one each: every reserve buys one
// item.
func (s *server) dispatch(key string, q *queue) {
	for q.head < len(q.items) && len(q.ready) > 0 {
		cl := q.ready[0]
		q.ready = q.ready[1:]
		data := q.items[q.head]
		q.items[q.head] = nil
		q.head++
		s.buf = appendMessage(s.buf[:0], "queue", q.raw, data)
		cl.c.Send(s.buf)
	}
	if q.head == len(q.items) {
		// Drained: start over, and let a burst's large array go.
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 1024 {
			q.items = nil
		}
	} else if q.head > 1024 && q.head > len(q.items)/2 {
		q.items, q.head = append([][]byte(nil), q.items[q.head:]...), 0
	}
	if q.empty() {
		delete(s.queues, key)
	}
}

func (s *server) unsubscribe(cl *peer, key string) {
	delete(cl.channels, key)
	if sub := s.channels[key]; sub != nil {
		sub.remove(cl)
		if len(sub.conns) == 0 {
			delete(s.channels, key)
		}
	}
}

func (s *server) unwatch(cl *peer, key string) {
	delete(cl.watches, key)
	if q := s.queues[key]; q != nil {
		delete(q.watchers, cl)
		q.unready(cl)
		if q.empty() {
			delete(s.queues, key)
		}
	}
}

func (s *server) close(c *workerman.Connection) {
	cl, ok := c.Context.(*peer)
	if !ok {
		return
	}
	for key := range cl.channels {
		s.unsubscribe(cl, key)
	}
	for key := range cl.watches {
		s.unwatch(cl, key)
	}
}

// reject closes a connection that sent what the server cannot serve; it
// shows in status as a protocol error.
func (s *server) reject(cl *peer, err error) {
	s.bad++
	cl.rejected = true
	if l := cl.c.Loop(); l != nil {
		l.Logger().Warn("channel: closing a connection", zap.String("remote", remote(cl.c)), zap.Error(err))
	}
	cl.c.CloseMalformed()
}

func remote(c *workerman.Connection) string {
	if a := c.RemoteAddr(); a.IsValid() {
		return a.String()
	}
	return "unix"
}
