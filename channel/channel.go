// Package channel is Workerman's Channel component (manual 1.15.2) for Go:
// publish/subscribe events and work queues between the processes of a
// daemon, and across hosts through an existing engine.
//
// The backend is chosen by the URL given to Connect:
//
//	frame://127.0.0.1:2206   the stock "channel" handler (Workerman's Channel
//	unix:///run/chan.sock    server protocol, so PHP programs using
//	                         Workerman's Channel client share it)
//	redis://host:6379/0      Redis: pub/sub for events, lists for queues
//	nats://host:4222         NATS: subjects for events, queue groups
//
// Every callback runs on the event loop given to Connect, one at a time,
// like every other callback of a worker. Data is any value phpserialize
// can write (strings, numbers, booleans, nil, slices, maps, *Array); a
// callback receives it as phpserialize.Unmarshal gives it back.
package channel

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/workermand/workermand/workerman"
)

// Client is one process's connection to a channel backend. Its methods
// are safe from any goroutine and never block on the network: output is
// queued and sent in order; while disconnected, it is queued up to
// Options.MaxPending messages (then dropped and counted as errors).
type Client interface {
	// On sets the handler of an event and subscribes to it (replacing a
	// previous handler, as Workerman's Client::on()).
	On(event string, fn func(data any))
	// Subscribe and Unsubscribe manage subscriptions without changing
	// handlers; an event without a handler goes to Options.OnMessage.
	Subscribe(events ...string)
	Unsubscribe(events ...string)
	// Publish sends data to every subscriber of each event, the
	// publisher's own handlers included if it subscribed.
	Publish(data any, events ...string) error
	// PublishLoop sends data to one subscriber of each event, in turn
	// (Workerman's publish with $is_loop = true).
	PublishLoop(data any, events ...string) error
	// Watch sets the handler of a queue and watches it: each Reserve
	// (automatic after every item when autoReserve) buys one item.
	Watch(queue string, fn func(data any), autoReserve bool)
	Unwatch(queues ...string)
	// Enqueue pushes data onto each queue; one watcher gets it.
	Enqueue(data any, queues ...string) error
	// Reserve asks for one more item of each watched queue.
	Reserve()
	// Close disconnects for good: no reconnect, no more callbacks.
	Close()
}

// Options tune a client; the zero value is Workerman's behaviour.
type Options struct {
	// OnConnect runs each time the backend is (re)connected, after the
	// subscriptions and watches are restored.
	OnConnect func()
	// OnClose runs each time the connection is lost.
	OnClose func()
	// OnMessage receives events that have no handler (Workerman's
	// Client::$onMessage); nil drops them.
	OnMessage func(event string, data any)
	// OnError reports what cannot be returned: a lost connection, data
	// that would not decode, a message dropped while disconnected.
	OnError func(err error)
	// ReconnectInterval is the wait between reconnect attempts (default
	// 1 s, as Workerman).
	ReconnectInterval time.Duration
	// PingInterval is the keep-alive of the frame backend (default 55 s).
	PingInterval time.Duration
	// MaxPending bounds what is queued while disconnected (default 10000
	// messages).
	MaxPending int
	// Token authenticates to a channel server that requires one (its
	// token option); frame backend only.
	Token string

	// eventsOnly: events are never publishLoop'd to this client (Backend's,
	// which subscribes per uid and group), so the Redis backend keeps no
	// BRPOP, hence no connection, per event, and NATS no queue
	// subscription per event.
	eventsOnly bool
}

// Default values of Options.
const (
	DefaultReconnectInterval = time.Second
	DefaultPingInterval      = 55 * time.Second
	DefaultMaxPending        = 10000
)

func (o Options) withDefaults() Options {
	if o.ReconnectInterval <= 0 {
		o.ReconnectInterval = DefaultReconnectInterval
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	return o
}

// backendFunc connects a Client to the backend of u.
type backendFunc func(loop *workerman.EventLoop, u *url.URL, o Options) (Client, error)

var backends = struct {
	sync.Mutex
	m map[string]backendFunc
}{m: map[string]backendFunc{}}

// register makes a backend available by URL scheme; each backend's file
// registers itself.
func register(scheme string, fn backendFunc) {
	backends.Lock()
	defer backends.Unlock()
	backends.m[scheme] = fn
}

// CheckURL reports whether rawURL names a backend Connect knows (a
// handler's Validate uses it, so that check and start refuse a bad
// channel option before any process would).
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("channel %q: %w", rawURL, err)
	}
	backends.Lock()
	_, ok := backends.m[u.Scheme]
	var schemes []string
	for s := range backends.m {
		schemes = append(schemes, s+"://")
	}
	backends.Unlock()
	if !ok {
		sort.Strings(schemes)
		return fmt.Errorf("channel %q: want a URL of one of %s", rawURL, strings.Join(schemes, ", "))
	}
	return nil
}

// Connect connects a client on loop to the backend rawURL names and keeps
// it connected: a lost connection is retried every ReconnectInterval, and
// subscriptions and queue watches are restored (Workerman restores only
// subscriptions). It returns at once; OnConnect says when it is up.
func Connect(loop *workerman.EventLoop, rawURL string, o Options) (Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	backends.Lock()
	fn, ok := backends.m[u.Scheme]
	var schemes []string
	for s := range backends.m {
		schemes = append(schemes, s)
	}
	backends.Unlock()
	if !ok {
		sort.Strings(schemes)
		return nil, fmt.Errorf("channel: unknown backend %q in %q (want one of %v)", u.Scheme, rawURL, schemes)
	}
	if loop == nil {
		return nil, fmt.Errorf("channel: Connect needs the event loop the callbacks run on")
	}
	return fn(loop, u, o.withDefaults())
}
