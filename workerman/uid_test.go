package workerman_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// uidWorker is a text worker whose clients drive the uid and group API
// with command lines; every command is answered with one line ("ok ..."),
// after what it delivered to the sender itself, so a client reads the
// sends that reach it in order with the answers.
func uidWorker(name string, log *eventLog) *workerman.Worker {
	w := textWorker(name)
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		cmd, arg, _ := strings.Cut(string(m.Data), " ")
		to, text, _ := strings.Cut(arg, " ")
		w := c.Worker()
		answer := func(err error) {
			if err != nil {
				c.SendString("error " + err.Error())
				return
			}
			c.SendString("ok " + cmd)
		}
		switch cmd {
		case "bind":
			c.BindUID(arg)
			answer(nil)
		case "unbind":
			c.UnbindUID()
			answer(nil)
		case "join":
			c.JoinGroup(arg)
			answer(nil)
		case "leave":
			c.LeaveGroup(arg)
			answer(nil)
		case "who":
			c.SendString("ok " + c.UID() + "|" + strings.Join(c.Groups(), ","))
		case "touid":
			answer(w.SendToUID(to, []byte(text)))
		case "togroup":
			answer(w.SendToGroup(to, []byte(text)))
		case "toall":
			answer(w.SendToAll([]byte(arg)))
		case "closeuid":
			answer(w.CloseUID(arg))
		case "online":
			w.IsUIDOnline(arg, func(online bool) { c.SendString(fmt.Sprintf("ok online %s %v", arg, online)) })
		default:
			c.SendString("error unknown command " + cmd)
		}
	}
	w.OnClose = func(c *workerman.Connection) {
		if log != nil {
			log.add("close uid=%s groups=%v", c.UID(), c.Groups())
		}
	}
	return w
}

// do sends a command and expects its answer.
func (c *client) do(cmd, answer string) {
	c.t.Helper()
	c.write(cmd + "\n")
	c.expectLine(answer)
}

// expectNothing checks that nothing more arrives for a short while: a
// duplicate would.
func (c *client) expectNothing() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if s, err := c.r.ReadString('\n'); err == nil || s != "" {
		c.t.Fatalf("want nothing more, read %q", s)
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
}

func TestUIDsAndGroupsInOneProcess(t *testing.T) {
	var log eventLog
	w := uidWorker("uids", &log)
	workermantest.Start(t, w)
	a1, a2, b, g := dialWorker(t, w), dialWorker(t, w), dialWorker(t, w), dialWorker(t, w)

	// A uid with two connections: each gets a send once.
	a1.do("bind alice", "ok bind")
	a2.do("bind alice", "ok bind")
	b.do("bind bob", "ok bind")
	b.do("touid alice hi alice", "ok touid")
	a1.expectLine("hi alice")
	a2.expectLine("hi alice")
	b.do("online alice", "ok online alice true")
	b.do("online carol", "ok online carol false")

	// Groups: joined twice is joined once; leaving stops the sends.
	g.do("join room", "ok join")
	g.do("join room", "ok join")
	a1.do("join room", "ok join")
	a1.do("join lobby", "ok join")
	a1.do("who", "ok alice|room,lobby")
	b.do("togroup room to the room", "ok togroup")
	g.expectLine("to the room")
	a1.expectLine("to the room")
	a1.do("leave room", "ok leave")
	b.do("togroup room again", "ok togroup")
	g.expectLine("again")

	// All: every connection, the sender's included, once.
	g.write("toall everyone\n")
	g.expectLine("everyone") // delivered before the answer
	g.expectLine("ok toall")
	for _, c := range []*client{a1, a2, b} {
		c.expectLine("everyone")
	}
	g.expectNothing()

	// Rebinding moves the connection; a closed connection leaves its uid
	// and groups, and its OnClose still reads them.
	a2.do("bind bob", "ok bind")
	g.do("touid alice only a1", "ok touid")
	a1.expectLine("only a1")
	a1.Close()
	waitFor(t, "a1's OnClose", func() bool { return log.count("close uid=alice groups=[lobby]") == 1 })
	g.do("online alice", "ok online alice false")
	g.do("togroup lobby nobody", "ok togroup")
	g.do("touid bob two", "ok touid")
	a2.expectLine("two")
	b.expectLine("two")
	a2.expectNothing()

	// CloseUID closes every connection of the uid.
	g.do("closeuid bob", "ok closeuid")
	a2.expectEOF()
	b.expectEOF()
	g.do("online bob", "ok online bob false")
}

// fakeHub is a channel backend in memory: every Bus of it sees the
// subscriptions of the others at once and gets what they publish on its
// loop, serialized as a backend would (a []byte arrives as a string).
type fakeHub struct {
	mu   sync.Mutex
	subs map[string]map[*fakeBus]func(any)
}

type fakeBus struct {
	hub    *fakeHub
	loop   *workerman.EventLoop
	closed bool
}

func newFakeHub() *fakeHub { return &fakeHub{subs: map[string]map[*fakeBus]func(any){}} }

func (h *fakeHub) connect(loop *workerman.EventLoop) (workerman.Bus, error) {
	return &fakeBus{hub: h, loop: loop}, nil
}

// subscribers is how many buses subscribe to event.
func (h *fakeHub) subscribers(event string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[event])
}

// events lists the subscribed events with a prefix.
func (h *fakeHub) events(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for e, s := range h.subs {
		if strings.HasPrefix(e, prefix) && len(s) > 0 {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

func (b *fakeBus) On(event string, fn func(any)) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if b.hub.subs[event] == nil {
		b.hub.subs[event] = map[*fakeBus]func(any){}
	}
	b.hub.subs[event][b] = fn
}

func (b *fakeBus) Unsubscribe(events ...string) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, e := range events {
		delete(b.hub.subs[e], b)
	}
}

func (b *fakeBus) Publish(data any, events ...string) error {
	if m, ok := data.(map[string]any); ok {
		m = maps.Clone(m)
		for k, v := range m {
			if p, ok := v.([]byte); ok {
				m[k] = string(p)
			}
		}
		data = m
	}
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, e := range events {
		for sub, fn := range b.hub.subs[e] {
			sub.loop.Post(func() { fn(data) })
		}
	}
	return nil
}

func (b *fakeBus) Close() {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, s := range b.hub.subs {
		delete(s, b)
	}
}

func TestUIDsAcrossProcesses(t *testing.T) {
	hub := newFakeHub()
	wa, wb := uidWorker("app", nil), uidWorker("app", nil)
	wa.Channel, wb.Channel = hub.connect, hub.connect
	workermantest.Start(t, wa)
	workermantest.Start(t, wb)
	a1, a2 := dialWorker(t, wa), dialWorker(t, wa)
	b1, b2 := dialWorker(t, wb), dialWorker(t, wb)

	// Every process subscribes to its worker's all and its answers.
	if n := hub.subscribers("all:app"); n != 2 {
		t.Fatalf("all:app has %d subscribers, want 2", n)
	}
	if got := hub.events("uid:"); len(got) != 0 {
		t.Fatalf("uid events subscribed before any bind: %v", got)
	}

	// A uid bound in both processes: a send from either reaches each of
	// its connections once, the sender's process delivering its own.
	a1.do("bind alice", "ok bind")
	b1.do("bind alice", "ok bind")
	if n := hub.subscribers("uid:alice"); n != 2 {
		t.Fatalf("uid:alice has %d subscribers, want 2 (one per process)", n)
	}
	b2.do("touid alice from b", "ok touid")
	a1.expectLine("from b")
	b1.expectLine("from b")
	a1.write("touid alice from a\n")
	a1.expectLine("from a")
	a1.expectLine("ok touid")
	b1.expectLine("from a")
	a1.expectNothing()
	b1.expectNothing()

	// A second connection of the uid in one process: still one
	// subscription for the process.
	a2.do("bind alice", "ok bind")
	if n := hub.subscribers("uid:alice"); n != 2 {
		t.Fatalf("uid:alice has %d subscribers, want 2", n)
	}
	b2.do("touid alice three", "ok touid")
	for _, c := range []*client{a1, a2, b1} {
		c.expectLine("three")
	}

	// Groups and all.
	a2.do("join room", "ok join")
	b2.do("togroup room to the room", "ok togroup")
	a2.expectLine("to the room")
	b2.write("toall everyone\n")
	b2.expectLine("everyone")
	b2.expectLine("ok toall")
	for _, c := range []*client{a1, a2, b1} {
		c.expectLine("everyone")
	}
	for _, c := range []*client{a1, a2, b1, b2} {
		c.expectNothing()
	}

	// IsUIDOnline asks the other processes.
	a2.do("bind carol", "ok bind")
	b2.do("online carol", "ok online carol true")
	start := time.Now()
	b2.do("online dave", "ok online dave false")
	if d := time.Since(start); d < workerman.OnlineQueryTimeout/2 {
		t.Errorf("an offline uid answered after %s, before any process could", d)
	}

	// The last connection of a uid or group in a process unsubscribes it.
	a2.Close()
	waitFor(t, "carol and room unsubscribed", func() bool {
		return hub.subscribers("uid:carol") == 0 && hub.subscribers("group:room") == 0
	})
	if n := hub.subscribers("uid:alice"); n != 2 {
		t.Fatalf("uid:alice has %d subscribers after one of A's two closed, want 2", n)
	}
	b2.do("online carol", "ok online carol false")
	a1.Close()
	waitFor(t, "A's alice unsubscribed", func() bool { return hub.subscribers("uid:alice") == 1 })

	// CloseUID reaches the other process.
	a3 := dialWorker(t, wa)
	a3.do("closeuid alice", "ok closeuid")
	b1.expectEOF()
	waitFor(t, "alice gone", func() bool { return hub.subscribers("uid:alice") == 0 })

	// A PHP program publishes a plain string on a uid's event.
	b2.do("bind erin", "ok bind")
	bus, _ := hub.connect(nil)
	if err := bus.Publish("from php", "uid:erin"); err != nil {
		t.Fatal(err)
	}
	b2.expectLine("from php")
}

func TestUIDOffTheLoop(t *testing.T) {
	w := uidWorker("offloop", nil)
	workermantest.Start(t, w)
	c := dialWorker(t, w)
	c.do("bind u", "ok bind")
	// From another goroutine: posted to the loop, data copied.
	data := []byte("posted")
	if err := w.SendToUID("u", data); err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXXX")
	c.expectLine("posted")
	got := make(chan bool, 1)
	w.IsUIDOnline("u", func(online bool) { got <- online })
	select {
	case online := <-got:
		if !online {
			t.Fatal("IsUIDOnline(u) = false for a bound uid")
		}
	case <-time.After(workermantest.Timeout):
		t.Fatal("IsUIDOnline did not answer")
	}
	if err := workerman.NewWorker("text://127.0.0.1:0").SendToAll(nil); err == nil {
		t.Fatal("SendToAll of a worker not running: no error")
	}
}

// A send goes out through each connection's protocol: on a websocket, a
// text frame, or a binary one for bytes that are not UTF-8.
func TestUIDSendOverWebSocket(t *testing.T) {
	w := workerman.NewWorker("websocket://127.0.0.1:0")
	w.Name = "uidws"
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if c.UID() == "" {
			c.BindUID(string(m.Data))
			c.JoinGroup("g")
			c.SendString("bound")
			return
		}
		w.SendToGroup("g", m.Data)
	}
	workermantest.Start(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), workermantest.Timeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+w.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() (websocket.MessageType, string) {
		t.Helper()
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return typ, string(b)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("alice")); err != nil {
		t.Fatal(err)
	}
	if _, s := read(); s != "bound" {
		t.Fatalf("got %q, want bound", s)
	}
	for _, tc := range []struct {
		data string
		want websocket.MessageType
	}{{"héllo", websocket.MessageText}, {"\xff\x00\xfe", websocket.MessageBinary}} {
		if err := w.SendToUID("alice", []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		if typ, s := read(); typ != tc.want || s != tc.data {
			t.Fatalf("SendToUID(%q): got %v %q, want %v", tc.data, typ, s, tc.want)
		}
		if err := c.Write(ctx, websocket.MessageBinary, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		if typ, s := read(); typ != tc.want || s != tc.data {
			t.Fatalf("SendToGroup(%q): got %v %q, want %v", tc.data, typ, s, tc.want)
		}
	}
}
