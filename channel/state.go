package channel

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
)

// ErrClosed is returned by the publishing methods of a Client after Close.
var ErrClosed = errors.New("channel: client closed")

// ErrDropped is wrapped by the error Options.OnError receives for a message
// dropped because MaxPending messages were already waiting for a
// connection.
var ErrDropped = errors.New("channel: message dropped, too many waiting for a connection")

// This file is the part of a client that every backend shares (frame.go,
// redis.go, nats.go build on it; keep its shape stable):
//
//   - the handler table: event → handler (a subscription, possibly
//     without a handler), queue → watch (handler, autoReserve, ready);
//   - what a reconnect restores: restore() lists the subscriptions, the
//     watches and whether a reserve was outstanding;
//   - the output that waits for a connection: hold() keeps publish,
//     publishLoop and enqueue operations, up to MaxPending, and drain()
//     hands them back in order once connected. Subscriptions, watches and
//     reserves are state, not output: they are never held, since the
//     restore after a connect sends them;
//   - delivery on the loop: event() and item() call the handlers,
//     connected() and disconnected() OnConnect and OnClose, fail()
//     OnError.
//
// The bookkeeping methods lock s.mu, so a backend may call them from any
// goroutine; the delivery methods must run on the loop (a backend that
// receives on its own goroutine posts to s.loop first). A backend decides
// itself whether an operation goes out at once or to hold(); to keep the
// order of output it must make that decision and the drain after a
// connect in one sequence (the frame backend runs both on the loop).

// opKind is an operation a client sends; its String is the type field of
// Workerman's frame protocol.
type opKind uint8

const (
	opSubscribe opKind = iota
	opUnsubscribe
	opPublish
	opPublishLoop
	opWatch
	opUnwatch
	opEnqueue
	opReserve
)

var opNames = [...]string{
	opSubscribe:   "subscribe",
	opUnsubscribe: "unsubscribe",
	opPublish:     "publish",
	opPublishLoop: "publishLoop",
	opWatch:       "watch",
	opUnwatch:     "unwatch",
	opEnqueue:     "enqueue",
	opReserve:     "reserve",
}

func (k opKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return "op" + strconv.Itoa(int(k))
}

// op is one operation as every backend needs it: its kind, the events or
// queues it names, and for publish, publishLoop and enqueue the data
// already serialized (PHP serialize(), the payload PHP programs read).
type op struct {
	kind  opKind
	names []string
	data  []byte
}

// newOp serializes data for an output operation, so that a value that
// cannot be written is the caller's error, returned at once.
func newOp(kind opKind, data any, names []string) (op, error) {
	if len(names) == 0 {
		return op{}, fmt.Errorf("channel: %s names no event or queue", kind)
	}
	b, err := phpserialize.Marshal(data)
	if err != nil {
		return op{}, fmt.Errorf("channel: %s %v: %w", kind, names, err)
	}
	return op{kind: kind, names: slices.Clone(names), data: b}, nil
}

// watch is one watched queue of a client.
type watch struct {
	fn          func(data any)
	autoReserve bool
	// ready: a reserve was sent for this queue and no item has come since,
	// so the server owes one; a reconnect sends reserve again.
	ready bool
}

// restoreSet is what a (re)connect re-sends, each list sorted: subscribe
// events, watch queues, then reserve when reserve is set.
type restoreSet struct {
	events  []string
	queues  []string
	reserve bool
}

// state is the shared part of a client; see the comment at the top of the
// file. Build it with newState.
type state struct {
	loop *workerman.EventLoop
	opts Options // with defaults

	mu      sync.Mutex
	events  map[string]func(data any) // subscribed events; nil: OnMessage
	queues  map[string]*watch
	pending []op
	closed  bool
}

func newState(loop *workerman.EventLoop, o Options) *state {
	return &state{loop: loop, opts: o, events: map[string]func(any){}, queues: map[string]*watch{}}
}

// on sets an event's handler and subscribes to it.
func (s *state) on(event string, fn func(any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[event] = fn
}

// subscribe records subscriptions, keeping handlers already set.
func (s *state) subscribe(events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		if _, ok := s.events[e]; !ok {
			s.events[e] = nil
		}
	}
}

// unsubscribe forgets subscriptions and their handlers, as Workerman's
// unsubscribe() does.
func (s *state) unsubscribe(events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		delete(s.events, e)
	}
}

// subscribed reports whether event is subscribed.
func (s *state) subscribed(event string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.events[event]
	return ok
}

// watch sets a queue's handler. With autoReserve it marks every watched
// queue ready, as the reserve Workerman's watch() sends at once does: the
// caller sends that reserve.
func (s *state) watch(queue string, fn func(any), autoReserve bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.queues[queue]
	if w == nil {
		w = &watch{}
		s.queues[queue] = w
	}
	w.fn, w.autoReserve = fn, autoReserve
	if autoReserve {
		s.markReadyLocked()
	}
}

// unwatch forgets watched queues.
func (s *state) unwatch(queues []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range queues {
		delete(s.queues, q)
	}
}

// reserve marks every watched queue ready and returns them (sorted), for
// backends whose reserve names queues; the frame protocol's names none.
func (s *state) reserve() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.markReadyLocked()
}

func (s *state) markReadyLocked() []string {
	qs := make([]string, 0, len(s.queues))
	for q, w := range s.queues {
		w.ready = true
		qs = append(qs, q)
	}
	sort.Strings(qs)
	return qs
}

// restore lists what a connect must send again: Workerman restores the
// subscriptions; we restore the watches too, and the reserve the server
// of the lost connection still owed.
func (s *state) restore() restoreSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r restoreSet
	for e := range s.events {
		r.events = append(r.events, e)
	}
	for q, w := range s.queues {
		r.queues = append(r.queues, q)
		r.reserve = r.reserve || w.ready
	}
	sort.Strings(r.events)
	sort.Strings(r.queues)
	return r
}

// hold keeps an output operation until the next connect; beyond
// MaxPending it is dropped and reported to OnError.
func (s *state) hold(o op) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.pending) >= s.opts.MaxPending {
		s.mu.Unlock()
		s.fail(fmt.Errorf("%w: %s %v (%d waiting)", ErrDropped, o.kind, o.names, s.opts.MaxPending))
		return nil
	}
	s.pending = append(s.pending, o)
	s.mu.Unlock()
	return nil
}

// drain returns the held operations in order and forgets them.
func (s *state) drain() []op {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// close marks the client closed and reports whether it was open; held
// output is dropped.
func (s *state) close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	s.pending = nil
	return true
}

// isClosed reports whether Close was called.
func (s *state) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// event delivers an event to its handler, or to OnMessage for a
// subscription without one (dropped when neither exists: Workerman throws,
// which would end the process). Loop only.
func (s *state) event(name string, data any) {
	s.mu.Lock()
	fn := s.events[name]
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	switch {
	case fn != nil:
		fn(data)
	case s.opts.OnMessage != nil:
		// An event no longer subscribed still reaches OnMessage: the
		// server may have sent it before our unsubscribe arrived.
		s.opts.OnMessage(name, data)
	}
}

// item delivers a queue item to the queue's handler and reports whether
// the caller must send reserve now (autoReserve). An item for a queue no
// longer watched is reported to OnError: it is lost, as the server gave
// it to us. Loop only.
func (s *state) item(queue string, data any) (reserve bool) {
	s.mu.Lock()
	w := s.queues[queue]
	closed := s.closed
	var fn func(any)
	if w != nil {
		w.ready = false
		fn, reserve = w.fn, w.autoReserve
	}
	s.mu.Unlock()
	if closed {
		return false
	}
	if w == nil {
		s.fail(fmt.Errorf("channel: an item of queue %q, which is not watched, was dropped", queue))
		return false
	}
	if fn != nil {
		fn(data)
	}
	if reserve {
		// The reserve the caller sends makes every watched queue ready.
		s.reserve()
	}
	return reserve
}

// connected runs OnConnect on the loop; call it once the restore is sent.
func (s *state) connected() {
	if s.opts.OnConnect != nil && !s.isClosed() {
		s.onLoop(s.opts.OnConnect)
	}
}

// disconnected runs OnClose on the loop.
func (s *state) disconnected() {
	if s.opts.OnClose != nil && !s.isClosed() {
		s.onLoop(s.opts.OnClose)
	}
}

// fail reports err to OnError on the loop; from any goroutine.
func (s *state) fail(err error) {
	if s.opts.OnError == nil {
		return
	}
	s.onLoop(func() { s.opts.OnError(err) })
}

// onLoop runs fn now when called on the loop, else posts it.
func (s *state) onLoop(fn func()) {
	if s.loop.OnLoop() {
		fn()
		return
	}
	s.loop.Post(fn)
}

// eventName is the Go name of a channel or queue name read from the wire:
// PHP sends integer names (an event named after a worker id) as integers,
// and its array keys make 1 and "1" one name.
func eventName(v any) (string, bool) {
	switch n := v.(type) {
	case string:
		return n, true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}
