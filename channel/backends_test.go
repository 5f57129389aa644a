package channel_test

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workermand/workermand/channel"
	chanserver "github.com/workermand/workermand/handlers/channel"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// These tests run the same table against every backend, so that what each
// keeps of Workerman's semantics is compared side by side: events reach
// every subscriber (the publisher's own subscription included), publishLoop
// one subscriber each time, a queue item one watcher, a reserve buys one
// item, and a reconnect restores subscriptions and watches.

// backendServer is a running backend a test connects to and can restart,
// or kill and start again later.
type backendServer interface {
	url() string
	restart(pause time.Duration)
	kill()
	startAgain()
}

type backendCase struct {
	name  string
	start func(t *testing.T) backendServer
	// keepsQueue: an item enqueued while nobody watches waits for a
	// watcher (Workerman's server, Redis), or is lost (NATS core).
	keepsQueue bool
}

// backendCases lists the backends; every test runs on each.
var backendCases = []backendCase{
	{"frame", startFrame, true},
	{"redis", func(t *testing.T) backendServer { return startRedis(t) }, true},
	{"nats", func(t *testing.T) backendServer { return startNats(t) }, false},
}

// frameServer is the stock channel server in a process of the test's own.
type frameServer struct {
	t    *testing.T
	addr string
	p    *workerman.Process
}

func startFrame(t *testing.T) backendServer {
	w := chanserver.NewServer("frame://127.0.0.1:0")
	p := workermantest.Start(t, w)
	return &frameServer{t: t, addr: w.Addr().String(), p: p}
}

func (f *frameServer) url() string { return "frame://" + f.addr }

func (f *frameServer) restart(pause time.Duration) {
	f.kill()
	time.Sleep(pause)
	f.startAgain()
}

func (f *frameServer) kill() { workermantest.Stop(f.t, f.p) }

func (f *frameServer) startAgain() {
	f.p = workermantest.Start(f.t, chanserver.NewServer("frame://"+f.addr))
}

// eachBackend runs fn in a subtest per backend, each with its own server.
func eachBackend(t *testing.T, fn func(t *testing.T, srv backendServer)) {
	eachBackendCase(t, func(t *testing.T, b backendCase, srv backendServer) { fn(t, srv) })
}

func eachBackendCase(t *testing.T, fn func(t *testing.T, b backendCase, srv backendServer)) {
	for _, b := range backendCases {
		t.Run(b.name, func(t *testing.T) { fn(t, b, b.start(t)) })
	}
}

// Generous: the machine is small and shared, and tests run under -race.
const waitLong = 15 * time.Second

// rec is one delivery: the event or queue and the data.
type rec struct {
	name string
	data any
}

// tclient is a client on the test process's loop that records what it
// receives; its methods run on the loop, as a handler's calls do.
type tclient struct {
	t        *testing.T
	loop     *workerman.EventLoop
	c        channel.Client
	got      chan rec
	probes   chan string
	connects atomic.Int32
	closes   atomic.Int32
	errs     chan error
}

var probeSeq atomic.Int64

func newClient(t *testing.T, loop *workerman.EventLoop, url string) *tclient {
	t.Helper()
	tc := &tclient{t: t, loop: loop, got: make(chan rec, 10000), probes: make(chan string, 100), errs: make(chan error, 1000)}
	o := channel.Options{
		ReconnectInterval: 100 * time.Millisecond,
		OnConnect:         func() { tc.connects.Add(1) },
		OnClose:           func() { tc.closes.Add(1) },
		OnError: func(err error) {
			select {
			case tc.errs <- err:
			default:
			}
		},
	}
	var err error
	workermantest.OnLoop(t, loop, func() { tc.c, err = channel.Connect(loop, url, o) })
	if err != nil {
		t.Fatalf("Connect(%q): %v", url, err)
	}
	t.Cleanup(func() { workermantest.OnLoop(t, loop, tc.c.Close) })
	waitUntil(t, "OnConnect", func() bool { return tc.connects.Load() > 0 })
	return tc
}

func (tc *tclient) do(fn func(c channel.Client)) {
	tc.t.Helper()
	workermantest.OnLoop(tc.t, tc.loop, func() { fn(tc.c) })
}

func (tc *tclient) record(name string) func(any) {
	return func(v any) { tc.got <- rec{name, v} }
}

func (tc *tclient) on(events ...string) {
	tc.t.Helper()
	for _, e := range events {
		tc.do(func(c channel.Client) { c.On(e, tc.record(e)) })
	}
}

func (tc *tclient) watch(q string, auto bool) {
	tc.t.Helper()
	tc.do(func(c channel.Client) { c.Watch(q, tc.record(q), auto) })
}

func (tc *tclient) publish(data any, events ...string) {
	tc.t.Helper()
	var err error
	tc.do(func(c channel.Client) { err = c.Publish(data, events...) })
	if err != nil {
		tc.t.Fatalf("Publish(%v, %v): %v", data, events, err)
	}
}

func (tc *tclient) publishLoop(data any, events ...string) {
	tc.t.Helper()
	var err error
	tc.do(func(c channel.Client) { err = c.PublishLoop(data, events...) })
	if err != nil {
		tc.t.Fatalf("PublishLoop(%v, %v): %v", data, events, err)
	}
}

func (tc *tclient) enqueue(data any, queues ...string) {
	tc.t.Helper()
	var err error
	tc.do(func(c channel.Client) { err = c.Enqueue(data, queues...) })
	if err != nil {
		tc.t.Fatalf("Enqueue(%v, %v): %v", data, queues, err)
	}
}

// settle returns once what the client asked of the backend so far is in
// place there: it subscribes to a probe event of its own and publishes it
// until it comes back, which a backend that keeps a client's operations in
// order does only after the earlier subscriptions and watches.
func (tc *tclient) settle() {
	tc.t.Helper()
	probe := "probe-" + strconv.FormatInt(probeSeq.Add(1), 10)
	tc.do(func(c channel.Client) { c.On(probe, func(any) { tc.probes <- probe }) })
	deadline := time.Now().Add(waitLong)
	for {
		tc.publish("probe", probe)
		select {
		case p := <-tc.probes:
			if p == probe {
				tc.do(func(c channel.Client) { c.Unsubscribe(probe) })
				return
			}
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("the probe %s never came back within %s", probe, waitLong)
		}
	}
}

// expect returns the next n deliveries, failing after waitLong.
func (tc *tclient) expect(n int) []rec {
	tc.t.Helper()
	var out []rec
	timeout := time.After(waitLong)
	for len(out) < n {
		select {
		case r := <-tc.got:
			out = append(out, r)
		case <-timeout:
			tc.t.Fatalf("got %d of %d deliveries within %s: %v", len(out), n, waitLong, out)
		}
	}
	return out
}

// quiet fails if anything is delivered within d.
func (tc *tclient) quiet(d time.Duration) {
	tc.t.Helper()
	select {
	case r := <-tc.got:
		tc.t.Fatalf("unexpected delivery %v", r)
	case <-time.After(d):
	}
}

// drain takes what was delivered within d, at least one, or nothing.
func (tc *tclient) drain(d time.Duration) []rec {
	var out []rec
	for {
		select {
		case r := <-tc.got:
			out = append(out, r)
		case <-time.After(d):
			return out
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitLong)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func datas(rs []rec) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprint(r.data)
	}
	return out
}

func loopOf(t *testing.T) *workerman.EventLoop {
	return workermantest.Start(t, workerman.NewWorker("tcp://127.0.0.1:0")).Loop()
}

func TestBackendEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		a, b, pub := newClient(t, loop, srv.url()), newClient(t, loop, srv.url()), newClient(t, loop, srv.url())
		a.on("news")
		b.on("news", "marker")
		a.settle()
		b.settle()

		// Every subscriber gets each event once.
		pub.publish("hello", "news")
		for _, c := range []*tclient{a, b} {
			if got := c.expect(1); got[0] != (rec{"news", "hello"}) {
				t.Errorf("got %v, want news hello", got)
			}
		}
		// The publisher's own subscription receives its event.
		a.publish("self", "news")
		for _, c := range []*tclient{a, b} {
			if got := c.expect(1); got[0] != (rec{"news", "self"}) {
				t.Errorf("got %v, want news self", got)
			}
		}
		// Values come back as phpserialize gives them.
		pub.publish(map[string]any{"to": int64(3), "text": "hi"}, "news")
		got := a.expect(1)[0]
		arr, ok := got.data.(*phpserialize.Array)
		if !ok || arr.Map()["to"] != int64(3) || arr.Map()["text"] != "hi" {
			t.Errorf("a map arrived as %#v", got.data)
		}
		b.expect(1)

		// After Unsubscribe, b gets the marker published after the event
		// and not the event.
		b.do(func(c channel.Client) { c.Unsubscribe("news") })
		b.settle()
		pub.publish("after", "news")
		pub.publish("m", "marker")
		if got := b.expect(1); got[0] != (rec{"marker", "m"}) {
			t.Errorf("after unsubscribe: got %v, want only the marker", got)
		}
		if got := a.expect(1); got[0] != (rec{"news", "after"}) {
			t.Errorf("a: got %v", got)
		}
		b.quiet(200 * time.Millisecond)
	})
}

func TestBackendPublishLoop(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		pub := newClient(t, loop, srv.url())
		// With no subscriber a publishLoop is dropped, as a publish is.
		pub.publishLoop("nobody", "jobs")
		pub.settle()
		subs := make([]*tclient, 3)
		for i := range subs {
			subs[i] = newClient(t, loop, srv.url())
			subs[i].on("jobs")
			subs[i].settle()
		}
		const n = 30
		for i := range n {
			pub.publishLoop(strconv.Itoa(i), "jobs")
		}
		// Each item reaches one subscriber, and every subscriber gets some.
		var all []string
		counts := make([]int, len(subs))
		deadline := time.Now().Add(waitLong)
		for len(all) < n && time.Now().Before(deadline) {
			for i, s := range subs {
				for _, r := range s.drain(50 * time.Millisecond) {
					all = append(all, fmt.Sprint(r.data))
					counts[i]++
				}
			}
		}
		for i, s := range subs {
			for _, r := range s.drain(300 * time.Millisecond) {
				all = append(all, fmt.Sprint(r.data))
				counts[i]++
			}
		}
		t.Logf("%d items over 3 subscribers: %v", n, counts)
		sort.Slice(all, func(i, j int) bool { a, _ := strconv.Atoi(all[i]); b, _ := strconv.Atoi(all[j]); return a < b })
		var want []string
		for i := range n {
			want = append(want, strconv.Itoa(i))
		}
		if !slices.Equal(all, want) {
			t.Fatalf("publishLoop delivered %v, want each of 0..%d once", all, n-1)
		}
		for i, c := range counts {
			if c == 0 {
				// Workerman's server goes round; Redis serves the
				// longest waiting BRPOP; NATS picks at random.
				t.Errorf("subscriber %d got none of %d: %v", i, n, counts)
			}
		}
	})
}

func TestBackendQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		prod := newClient(t, loop, srv.url())

		// Two watchers with autoReserve share a queue: each item once.
		w1, w2 := newClient(t, loop, srv.url()), newClient(t, loop, srv.url())
		w1.watch("work", true)
		w2.watch("work", true)
		w1.settle()
		w2.settle()
		const n = 20
		for i := range n {
			prod.enqueue(strconv.Itoa(i), "work")
		}
		var all []string
		deadline := time.Now().Add(waitLong)
		for len(all) < n && time.Now().Before(deadline) {
			all = append(all, datas(w1.drain(50*time.Millisecond))...)
			all = append(all, datas(w2.drain(50*time.Millisecond))...)
		}
		all = append(all, datas(w1.drain(300*time.Millisecond))...)
		all = append(all, datas(w2.drain(10*time.Millisecond))...)
		sort.Slice(all, func(i, j int) bool { a, _ := strconv.Atoi(all[i]); b, _ := strconv.Atoi(all[j]); return a < b })
		var want []string
		for i := range n {
			want = append(want, strconv.Itoa(i))
		}
		if !slices.Equal(all, want) {
			t.Fatalf("queue delivered %v, want each of 0..%d once", all, n-1)
		}

		// Without autoReserve, each Reserve buys one item.
		m := newClient(t, loop, srv.url())
		m.watch("manual", false)
		m.settle()
		for _, s := range []string{"a", "b", "c"} {
			prod.enqueue(s, "manual")
		}
		prod.settle() // the items are out
		m.quiet(300 * time.Millisecond)
		m.do(func(c channel.Client) { c.Reserve() })
		if got := m.expect(1); got[0] != (rec{"manual", "a"}) {
			t.Fatalf("first reserve: %v, want manual a", got)
		}
		m.quiet(300 * time.Millisecond)
		m.do(func(c channel.Client) { c.Reserve() })
		if got := m.expect(1); got[0] != (rec{"manual", "b"}) {
			t.Fatalf("second reserve: %v, want manual b", got)
		}
		m.quiet(300 * time.Millisecond)

		// Another watcher comes and the first unwatches: the item left
		// and the later ones go to the new watcher only.
		o := newClient(t, loop, srv.url())
		o.watch("manual", true)
		o.settle()
		m.do(func(c channel.Client) { c.Unwatch("manual") })
		m.settle()
		if got := o.expect(1); got[0] != (rec{"manual", "c"}) {
			t.Fatalf("after unwatch: %v, want manual c", got)
		}
		prod.enqueue("d", "manual")
		prod.enqueue("e", "manual")
		if got := datas(o.expect(2)); !slices.Equal(got, []string{"d", "e"}) {
			t.Fatalf("after unwatch: %v, want d e", got)
		}
		m.do(func(c channel.Client) { c.Reserve() })
		m.quiet(300 * time.Millisecond)
	})
}

// The backend restarts under a subscriber and a queue watcher: both see
// OnClose and OnConnect, and both receive what is sent afterwards.
func TestBackendReconnect(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		sub, w, pub := newClient(t, loop, srv.url()), newClient(t, loop, srv.url()), newClient(t, loop, srv.url())
		sub.on("ev")
		w.watch("jobs", true)
		sub.settle()
		w.settle()
		pub.publish("before", "ev")
		pub.enqueue("before", "jobs")
		sub.expect(1)
		w.expect(1)

		srv.restart(300 * time.Millisecond)
		for _, c := range []*tclient{sub, w, pub} {
			waitUntil(t, "OnClose then OnConnect", func() bool { return c.closes.Load() >= 1 && c.connects.Load() >= 2 })
		}
		// What was published while the backend was down or the clients
		// were reconnecting may be lost; once both are back, the old
		// subscription and the old watch receive again.
		deadline := time.Now().Add(waitLong)
		for got := false; !got; {
			pub.publish("after", "ev")
			for _, r := range sub.drain(300 * time.Millisecond) {
				got = got || r == rec{"ev", "after"}
			}
			if !got && time.Now().After(deadline) {
				t.Fatal("the subscription was not restored")
			}
		}
		deadline = time.Now().Add(waitLong)
		for got := false; !got; {
			pub.enqueue("after", "jobs")
			for _, r := range w.drain(500 * time.Millisecond) {
				got = got || r == rec{"jobs", "after"}
			}
			if !got && time.Now().After(deadline) {
				t.Fatal("the watch was not restored")
			}
		}
	})
}

// An item enqueued while nobody watches the queue: kept for the first
// watcher by the channel server and Redis, lost on NATS core.
func TestBackendQueueWithoutWatcher(t *testing.T) {
	eachBackendCase(t, func(t *testing.T, b backendCase, srv backendServer) {
		loop := loopOf(t)
		prod := newClient(t, loop, srv.url())
		prod.enqueue("early", "later")
		prod.settle()
		w := newClient(t, loop, srv.url())
		w.watch("later", true)
		w.settle()
		prod.enqueue("on time", "later")
		want := []string{"on time"}
		if b.keepsQueue {
			want = []string{"early", "on time"}
		}
		if got := datas(w.expect(len(want))); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		w.quiet(300 * time.Millisecond)
	})
}

// Output published while the backend is down waits for the reconnect and
// goes out after the subscriptions are restored, so it reaches the
// publisher's own subscription.
func TestBackendHeldWhileDown(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		pub := newClient(t, loop, srv.url())
		pub.on("own")
		pub.settle()
		srv.kill()
		waitUntil(t, "OnClose", func() bool { return pub.closes.Load() >= 1 })
		pub.publish("while down", "own")
		time.Sleep(300 * time.Millisecond) // a few failed attempts
		srv.startAgain()
		waitUntil(t, "OnConnect again", func() bool { return pub.connects.Load() >= 2 })
		if got := pub.expect(1); got[0] != (rec{"own", "while down"}) {
			t.Fatalf("got %v, want own: while down", got)
		}
	})
}

// Names are any strings: dots, spaces, wildcards of NATS subjects, colons
// of Redis keys and non-ASCII bytes stay one name on every backend.
func TestBackendNames(t *testing.T) {
	names := []string{"a.b", "a b", "*", ">", "x:loop:y", "é", "7", ""}
	eachBackend(t, func(t *testing.T, srv backendServer) {
		loop := loopOf(t)
		a, pub := newClient(t, loop, srv.url()), newClient(t, loop, srv.url())
		a.on(names...)
		a.settle()
		for _, n := range names {
			pub.publish("to "+n, n)
			if got := a.expect(1); got[0] != (rec{n, "to " + n}) {
				t.Errorf("event %q: got %v", n, got)
			}
		}
		// "a" and "a.b" are two events, whatever the backend makes of dots.
		pub.publish("plain a", "a")
		a.quiet(200 * time.Millisecond)
	})
}
