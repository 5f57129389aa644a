package channel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	client "github.com/workermand/workermand/channel"
	"github.com/workermand/workermand/phpserialize"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// serve runs a channel server on listen (port 0 for a free one) until the
// test ends.
func serve(t *testing.T, listen string, h *Handler) (*workerman.Worker, *workerman.Process) {
	t.Helper()
	w := NewServer(listen)
	if h != nil {
		w.Handler = h
	}
	p := workermantest.Start(t, w)
	return w, p
}

func url(w *workerman.Worker) string { return "frame://" + w.Addr().String() }

// loop is the event loop of a process of its own, where clients run.
func loop(t *testing.T) *workerman.EventLoop {
	t.Helper()
	return workermantest.Start(t, workerman.NewWorker("tcp://127.0.0.1:0")).Loop()
}

type delivery struct {
	name string
	data any
}

// recorder collects what a client's callbacks receive, and its connects.
type recorder struct {
	t        *testing.T
	c        client.Client
	got      chan delivery
	connects chan struct{}
	closes   chan struct{}
	errs     chan error
}

// connect connects a client on its own loop and waits until it is up.
func connect(t *testing.T, addr string, o client.Options) *recorder {
	t.Helper()
	r := newRecorder(t, loop(t), addr, o)
	r.waitConnect()
	return r
}

func newRecorder(t *testing.T, l *workerman.EventLoop, addr string, o client.Options) *recorder {
	t.Helper()
	r := &recorder{t: t, got: make(chan delivery, 1000), connects: make(chan struct{}, 100),
		closes: make(chan struct{}, 100), errs: make(chan error, 1000)}
	o.OnConnect = func() { r.connects <- struct{}{} }
	o.OnClose = func() { r.closes <- struct{}{} }
	o.OnMessage = func(event string, data any) { r.got <- delivery{"msg:" + event, data} }
	o.OnError = func(err error) {
		select {
		case r.errs <- err:
		default:
		}
	}
	c, err := client.Connect(l, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	t.Cleanup(c.Close)
	return r
}

func (r *recorder) waitConnect() {
	r.t.Helper()
	select {
	case <-r.connects:
	case <-time.After(workermantest.Timeout):
		r.t.Fatal("the client did not connect")
	}
}

// handler returns a callback recording under name.
func (r *recorder) handler(name string) func(any) {
	return func(data any) { r.got <- delivery{name, data} }
}

func (r *recorder) expect(name string, data any) {
	r.t.Helper()
	select {
	case d := <-r.got:
		if d.name != name || !equal(d.data, data) {
			r.t.Fatalf("got %s %#v, want %s %#v", d.name, show(d.data), name, data)
		}
	case <-time.After(workermantest.Timeout):
		r.t.Fatalf("nothing received, want %s %#v", name, data)
	}
}

// quiet checks that nothing arrives for a while.
func (r *recorder) quiet(d time.Duration) {
	r.t.Helper()
	select {
	case x := <-r.got:
		r.t.Fatalf("unexpected %s %#v", x.name, show(x.data))
	case <-time.After(d):
	}
}

func show(v any) any {
	if a, ok := v.(*phpserialize.Array); ok {
		return a.Map()
	}
	return v
}

// equal compares values as PHP would see them: their serialize().
func equal(a, b any) bool {
	x, err1 := phpserialize.Marshal(a)
	y, err2 := phpserialize.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// sync makes sure every operation sent so far by c reached the server:
// a publish to itself on a private event comes back after them, since a
// connection's frames are served in order.
func (r *recorder) sync(tag string) {
	r.t.Helper()
	ev := "sync:" + tag
	r.c.On(ev, r.handler(ev))
	if err := r.c.Publish("x", ev); err != nil {
		r.t.Fatal(err)
	}
	r.expect(ev, "x")
	r.c.Unsubscribe(ev)
}

func TestPublishSubscribe(t *testing.T) {
	w, _ := serve(t, "frame://127.0.0.1:0", nil)
	a := connect(t, url(w), client.Options{})
	b := connect(t, url(w), client.Options{})
	a.c.On("news", a.handler("news"))
	b.c.On("news", b.handler("news"))
	b.c.Subscribe("other") // no handler: OnMessage
	a.sync("a")
	b.sync("b")

	// The publisher gets its own copy, being subscribed.
	if err := a.c.Publish("hello", "news"); err != nil {
		t.Fatal(err)
	}
	a.expect("news", "hello")
	b.expect("news", "hello")

	// Several events at once, structured data, an event without handler.
	m := map[string]any{"to": int64(7), "list": []any{"x", 1.5, true, nil}}
	if err := a.c.Publish(m, "news", "other", "nobody"); err != nil {
		t.Fatal(err)
	}
	a.expect("news", m)
	b.expect("news", m)
	b.expect("msg:other", m)

	// Unsubscribed: nothing more.
	b.c.Unsubscribe("news", "other")
	b.sync("b2")
	a.c.Publish("again", "news", "other")
	a.expect("news", "again")
	b.quiet(100 * time.Millisecond)

	// A value phpserialize cannot write is the caller's error.
	if err := a.c.Publish(struct{}{}, "news"); err == nil {
		t.Error("Publish(struct{}{}) succeeded")
	}
	if err := a.c.Publish("x"); err == nil {
		t.Error("Publish with no event succeeded")
	}
}

func TestPublishLoopRoundRobin(t *testing.T) {
	w, _ := serve(t, "frame://127.0.0.1:0", nil)
	var rs []*recorder
	for i := range 3 {
		r := connect(t, url(w), client.Options{})
		r.c.On("job", r.handler("job"))
		r.sync(fmt.Sprint(i))
		rs = append(rs, r)
	}
	pub := connect(t, url(w), client.Options{})
	for i := range 6 {
		if err := pub.c.PublishLoop(int64(i), "job"); err != nil {
			t.Fatal(err)
		}
	}
	// As Workerman (PHP's next(), then reset() at the end): the second
	// subscriber first, then round the list.
	want := [][]int64{{2, 5}, {0, 3}, {1, 4}}
	for i, r := range rs {
		for _, n := range want[i] {
			r.expect("job", n)
		}
		r.quiet(50 * time.Millisecond)
	}
	// Nobody subscribed: dropped silently.
	if err := pub.c.PublishLoop("x", "nobody"); err != nil {
		t.Fatal(err)
	}
	pub.sync("p")
}

func TestQueues(t *testing.T) {
	w, _ := serve(t, "frame://127.0.0.1:0", nil)
	a := connect(t, url(w), client.Options{})
	b := connect(t, url(w), client.Options{})
	a.c.Watch("tasks", a.handler("tasks"), true)
	b.c.Watch("tasks", b.handler("tasks"), true)
	a.sync("a")
	b.sync("b")
	pub := connect(t, url(w), client.Options{})
	const n = 40
	for i := range n {
		if err := pub.c.Enqueue(int64(i), "tasks"); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int64]bool{}
	per := map[*recorder]int{}
	for len(seen) < n {
		select {
		case d := <-a.got:
			seen[d.data.(int64)] = true
			per[a]++
		case d := <-b.got:
			seen[d.data.(int64)] = true
			per[b]++
		case <-time.After(workermantest.Timeout):
			t.Fatalf("%d of %d items arrived", len(seen), n)
		}
	}
	if per[a]+per[b] != n || per[a] == 0 || per[b] == 0 {
		t.Errorf("items per watcher: %d and %d, want %d in all, some each", per[a], per[b], n)
	}
	a.quiet(50 * time.Millisecond)
	b.quiet(10 * time.Millisecond)

	// Without autoReserve, each Reserve buys one item.
	m := connect(t, url(w), client.Options{})
	m.c.Watch("manual", m.handler("manual"), false)
	m.sync("m")
	for _, s := range []string{"one", "two", "three"} {
		pub.c.Enqueue(s, "manual")
	}
	pub.sync("p")
	m.quiet(50 * time.Millisecond)
	m.c.Reserve()
	m.expect("manual", "one")
	m.quiet(50 * time.Millisecond)
	m.c.Reserve()
	m.expect("manual", "two")
	m.quiet(50 * time.Millisecond)
	m.c.Reserve()
	m.expect("manual", "three")

	// Reserves wait for the next enqueue, and two of them before it are
	// one: the server keeps a set of ready watchers, not a count.
	m.c.Reserve()
	m.c.Reserve()
	m.sync("m2")
	pub.c.Enqueue("four", "manual")
	pub.c.Enqueue("five", "manual")
	m.expect("manual", "four")
	m.quiet(50 * time.Millisecond)
}

// raw is a connection speaking the protocol by hand, as a PHP client.
type raw struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, w *workerman.Worker) *raw {
	return &raw{t: t, c: workermantest.Dial(t, w)}
}

func (r *raw) send(v any) {
	r.t.Helper()
	b, err := phpserialize.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendBytes(b)
}

func (r *raw) sendBytes(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b)+4)), b...)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) read() []byte {
	r.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(r.c, h[:]); err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:])-4)
	if _, err := io.ReadFull(r.c, b); err != nil {
		r.t.Fatalf("reading a frame: %v", err)
	}
	return b
}

// closed checks that the server closed the connection.
func (r *raw) closed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(workermantest.Timeout))
	if n, err := r.c.Read(make([]byte, 64)); err != io.EOF {
		r.t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
	}
}

func msg(kv ...any) *phpserialize.Array {
	a := &phpserialize.Array{}
	for i := 0; i < len(kv); i += 2 {
		a.Set(kv[i], kv[i+1])
	}
	return a
}

func TestWireFormat(t *testing.T) {
	w, p := serve(t, "frame://127.0.0.1:0", nil)
	sub := dialRaw(t, w)
	// As PHP writes it: (array) of an integer event name, a string one.
	sub.sendBytes(nil) // the keep-alive, ignored
	sub.sendBytes([]byte(`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";a:2:{i:0;i:3;i:1;s:4:"news";}}`))
	pub := dialRaw(t, w)
	pub.sendBytes([]byte(`a:3:{s:4:"type";s:7:"publish";s:8:"channels";a:1:{i:0;s:4:"news";}s:4:"data";a:1:{s:1:"k";d:0.5;}}`))
	if got, want := string(sub.read()), `a:3:{s:4:"type";s:5:"event";s:7:"channel";s:4:"news";s:4:"data";a:1:{s:1:"k";d:0.5;}}`; got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	// "3" and 3 are one PHP array key; the event carries the publisher's.
	pub.send(msg("type", "publish", "channels", phpserialize.NewList("3"), "data", nil))
	if got, want := string(sub.read()), `a:3:{s:4:"type";s:5:"event";s:7:"channel";s:1:"3";s:4:"data";N;}`; got != want {
		t.Errorf("event\n got %s\nwant %s", got, want)
	}
	// A queue item.
	sub.send(msg("type", "watch", "channels", phpserialize.NewList("q")))
	sub.send(msg("type", "reserve"))
	pub.send(msg("type", "enqueue", "channels", phpserialize.NewList("q"), "data", int64(42)))
	if got, want := string(sub.read()), `a:3:{s:4:"type";s:5:"queue";s:7:"channel";s:1:"q";s:4:"data";i:42;}`; got != want {
		t.Errorf("queue\n got %s\nwant %s", got, want)
	}

	// Unsubscribe and unwatch drop what became empty; so does a close.
	counts := func() (int, int) {
		n := workermantest.OnLoopValue(t, p.Loop(), func() [2]int {
			srv := w.Handler.(*Handler).srv
			return [2]int{len(srv.channels), len(srv.queues)}
		})
		return n[0], n[1]
	}
	sub.send(msg("type", "unsubscribe", "channels", phpserialize.NewList("news", "nothing")))
	sub.send(msg("type", "unwatch", "channels", phpserialize.NewList("q")))
	sub.sendBytes(nil)
	waitFor(t, func() bool { c, q := counts(); return c == 1 && q == 0 }, "news and q dropped")
	// A queue with items but no watcher stays until they are taken.
	pub.send(msg("type", "enqueue", "channels", phpserialize.NewList("kept"), "data", "x"))
	sub.c.Close()
	waitFor(t, func() bool { c, q := counts(); return c == 0 && q == 1 }, "3 dropped on close, kept queue stays")
	late := dialRaw(t, w)
	late.send(msg("type", "watch", "channels", phpserialize.NewList("kept")))
	late.send(msg("type", "reserve"))
	if got, want := string(late.read()), `a:3:{s:4:"type";s:5:"queue";s:7:"channel";s:4:"kept";s:4:"data";s:1:"x";}`; got != want {
		t.Errorf("queue\n got %s\nwant %s", got, want)
	}
	late.send(msg("type", "unwatch", "channels", phpserialize.NewList("kept")))
	waitFor(t, func() bool { _, q := counts(); return q == 0 }, "kept dropped once taken and unwatched")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(workermantest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMalformed(t *testing.T) {
	w, p := serve(t, "frame://127.0.0.1:0", nil)
	good := connect(t, url(w), client.Options{})
	bad := [][]byte{
		[]byte("ping"),
		[]byte(`s:5:"hello";`),
		[]byte(`a:1:{s:4:"type";s:7:"explode";}`),
		[]byte(`a:1:{s:4:"type";i:1;}`),
		[]byte(`a:1:{s:8:"channels";a:0:{}}`),
		[]byte(`a:1:{s:4:"type";s:9:"subscribe";}`),
		[]byte(`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";s:3:"abc";}`),
		[]byte(`a:2:{s:4:"type";s:9:"subscribe";s:8:"channels";a:1:{i:0;a:0:{}}}`),
		[]byte(`a:3:{s:4:"type";s:7:"publish";s:8:"channels";a:0:{}s:4:"data";O:8:"stdClass":0:{}}`),
		[]byte(`a:2:{s:4:"type";s:4:"auth";s:5:"token";i:1;}`),
		[]byte(`a:1:{s:4:"type";s:7:"publish"`),
	}
	for i, b := range bad {
		r := dialRaw(t, w)
		r.sendBytes(b)
		r.closed()
		if n := workermantest.OnLoopValue(t, p.Loop(), w.Handler.(*Handler).BadRequests); n != uint64(i+1) {
			t.Fatalf("after %q: BadRequests = %d, want %d", b, n, i+1)
		}
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), p.Loop().Stats).ProtocolErrors; n != uint64(len(bad)) {
		t.Errorf("Stats().ProtocolErrors = %d, want %d", n, len(bad))
	}
	// The server still serves.
	good.c.On("e", good.handler("e"))
	good.c.Publish("still", "e")
	good.expect("e", "still")

	// Frames that came with a bad one are not served.
	pub, _ := phpserialize.Marshal(msg("type", "publish", "channels", phpserialize.NewList("e"), "data", "after a bad frame"))
	in := append([]byte{0, 0, 0, 8}, "ping"...)
	in = binary.BigEndian.AppendUint32(in, uint32(len(pub)+4))
	r := dialRaw(t, w)
	if _, err := r.c.Write(append(in, pub...)); err != nil {
		t.Fatal(err)
	}
	r.closed()
	good.c.Publish("last", "e")
	good.expect("e", "last")
}

func TestToken(t *testing.T) {
	w, p := serve(t, "frame://127.0.0.1:0", &Handler{Token: "s3cret"})
	// Without auth, with a wrong token, with auth after another message.
	for _, first := range []*phpserialize.Array{
		msg("type", "subscribe", "channels", phpserialize.NewList("e")),
		msg("type", "auth", "token", "wrong"),
		msg("type", "auth", "token", ""),
	} {
		r := dialRaw(t, w)
		r.sendBytes(nil) // keep-alives before auth are fine
		r.send(first)
		r.closed()
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), w.Handler.(*Handler).BadRequests); n != 3 {
		t.Errorf("BadRequests = %d, want 3", n)
	}
	// A PHP client writes the auth frame, then the protocol as usual.
	r := dialRaw(t, w)
	r.send(msg("type", "auth", "token", "s3cret"))
	r.send(msg("type", "subscribe", "channels", phpserialize.NewList("e")))
	c := connect(t, url(w), client.Options{Token: "s3cret"})
	c.c.On("e", c.handler("e"))
	c.sync("c")
	c.c.Publish("hi", "e")
	c.expect("e", "hi")
	if got := string(r.read()); !strings.Contains(got, `s:2:"hi"`) {
		t.Errorf("the raw client got %s", got)
	}

	// The Go client without the token is closed, retries, and says so.
	bad := newRecorder(t, loop(t), url(w), client.Options{ReconnectInterval: 50 * time.Millisecond})
	bad.c.On("e", bad.handler("e"))
	select {
	case err := <-bad.errs:
		if !strings.Contains(err.Error(), "lost") {
			t.Errorf("OnError: %v", err)
		}
	case <-time.After(workermantest.Timeout):
		t.Error("no error from a client without the token")
	}
	bad.c.Close()
}

func TestBindNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		listen string
		h      *Handler
		ok     bool
	}{
		{"frame://0.0.0.0:0", &Handler{}, false},
		{"frame://[::]:0", &Handler{}, false},
		{"frame://0.0.0.0:0", &Handler{Token: "x"}, true},
		{"frame://0.0.0.0:0", &Handler{TrustNetwork: true}, true},
		{"frame://[::1]:0", &Handler{}, true},
		{"text://127.0.0.1:0", &Handler{}, false},
		{"count 2", &Handler{}, false},
	} {
		w := NewServer(tc.listen)
		if tc.listen == "count 2" {
			w = NewServer("frame://127.0.0.1:0")
			w.Count = 2
		}
		w.Handler = tc.h
		p, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
		if p != nil {
			// Bound but never run: a Run on a done context releases it.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			p.Run(ctx)
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s %+v: err = %v, want ok %v", tc.listen, *tc.h, err, tc.ok)
		}
	}
	if err := (&Handler{MaxQueueItems: -1}).Validate(); err == nil {
		t.Error("max_queue_items = -1 accepted")
	}
}

func TestMaxQueueItems(t *testing.T) {
	w, p := serve(t, "frame://127.0.0.1:0", &Handler{MaxQueueItems: 2})
	pub := connect(t, url(w), client.Options{})
	for i := range 5 {
		pub.c.Enqueue(int64(i), "q")
	}
	pub.sync("p")
	if n := workermantest.OnLoopValue(t, p.Loop(), w.Handler.(*Handler).DroppedItems); n != 3 {
		t.Errorf("DroppedItems = %d, want 3", n)
	}
	c := connect(t, url(w), client.Options{})
	c.c.Watch("q", c.handler("q"), true)
	c.expect("q", int64(0))
	c.expect("q", int64(1))
	c.quiet(50 * time.Millisecond)
}

func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/chan.sock"
	serve(t, "unix://"+path, nil)
	c := connect(t, "unix://"+path, client.Options{})
	c.c.On("e", c.handler("e"))
	c.c.Publish("over unix", "e")
	c.expect("e", "over unix")
}

// TestReconnect restarts the server under a subscriber and a watcher: both
// come back (Workerman's client restores only subscriptions), and what was
// published meanwhile waits for the connection.
func TestReconnect(t *testing.T) {
	w, p := serve(t, "frame://127.0.0.1:0", nil)
	addr := w.Addr().String()
	o := client.Options{ReconnectInterval: 50 * time.Millisecond}
	sub := connect(t, "frame://"+addr, o)
	sub.c.On("e", sub.handler("e"))
	sub.c.Watch("q", sub.handler("q"), true)
	man := connect(t, "frame://"+addr, o)
	man.c.Watch("mq", man.handler("mq"), false)
	man.c.Reserve() // outstanding when the server goes
	sub.sync("s")
	man.sync("m")
	pub := connect(t, "frame://"+addr, o)
	pub.c.On("own", pub.handler("own"))
	pub.sync("p")

	workermantest.Stop(t, p)
	// Published once the client knows the server is gone (before, it
	// would go to the dead connection and be lost, as with Workerman):
	// held, and sent on reconnect after the subscriptions, so it comes
	// back to it.
	select {
	case <-pub.closes:
	case <-time.After(workermantest.Timeout):
		t.Fatal("the client did not see the server go")
	}
	if err := pub.c.Publish("while down", "own"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond) // a few failed attempts
	serve(t, "frame://"+addr, nil)
	for _, r := range []*recorder{sub, man, pub} {
		r.waitConnect()
	}
	pub.expect("own", "while down")
	// The restores of the others reached the server.
	sub.sync("s2")
	man.sync("m2")
	pub.c.Publish("after", "e")
	pub.c.Enqueue("item", "q")
	pub.c.Enqueue("manual", "mq")
	sub.expect("e", "after")
	sub.expect("q", "item")
	man.expect("mq", "manual")
	man.quiet(50 * time.Millisecond)
}

func TestHeldWhileDown(t *testing.T) {
	// Find a free port, then serve it only after publishing.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := newRecorder(t, loop(t), "frame://"+addr, client.Options{ReconnectInterval: 30 * time.Millisecond, MaxPending: 2})
	r.c.On("e", r.handler("e"))
	for _, s := range []string{"1", "2", "3"} {
		if err := r.c.Publish(s, "e"); err != nil {
			t.Fatal(err)
		}
	}
	sawDrop := false
	for !sawDrop {
		select {
		case err := <-r.errs:
			sawDrop = errors.Is(err, client.ErrDropped)
		case <-time.After(workermantest.Timeout):
			t.Fatal("no ErrDropped")
		}
	}
	serve(t, "frame://"+addr, nil)
	r.waitConnect()
	// Subscribed before the held output goes: the client's own publishes
	// come back, the first two in order.
	r.expect("e", "1")
	r.expect("e", "2")
	r.quiet(50 * time.Millisecond)

	r.c.Close()
	if err := r.c.Publish("x", "e"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestConnectErrors(t *testing.T) {
	l := loop(t)
	for _, u := range []string{"frame://127.0.0.1", "unix://host/x", "gopher://x:1", "frame://%zz"} {
		if _, err := client.Connect(l, u, client.Options{}); err == nil {
			t.Errorf("Connect(%q) succeeded", u)
		}
	}
	if _, err := client.Connect(nil, "frame://127.0.0.1:1", client.Options{}); err == nil {
		t.Error("Connect without a loop succeeded")
	}
}
