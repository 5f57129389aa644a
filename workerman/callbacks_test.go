package workerman_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// TestWorkerStartRunsBeforeFirstConnect queues connections, with data,
// before the process runs: OnWorkerStart must still run first, once, and
// each connection's OnConnect must come before its OnMessage.
func TestWorkerStartRunsBeforeFirstConnect(t *testing.T) {
	var log eventLog
	w := textWorker("order")
	w.OnWorkerStart = func(*workerman.Worker) { log.add("start") }
	w.OnConnect = func(c *workerman.Connection) { log.add("connect %d", c.ID()) }
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		log.add("message %d", c.ID())
		c.Send(m.Data)
	}
	p := workermantest.NewUnstarted(t, workerman.ProcessOptions{}, w)
	// The listening socket exists from NewProcess on: these connections wait
	// in its backlog, so the loop finds them ready on its first turn.
	const n = 3
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dialWorker(t, w)
		clients[i].write(fmt.Sprintf("hello %d\n", i))
	}
	workermantest.Run(t, p)
	for i, c := range clients {
		c.expectLine(fmt.Sprintf("hello %d", i))
	}

	ev := log.events()
	if len(ev) == 0 || ev[0] != "start" {
		t.Fatalf("OnWorkerStart did not run before everything else: events %q", ev)
	}
	if got := log.count("start"); got != 1 {
		t.Errorf("OnWorkerStart ran %d times, want once", got)
	}
	seen := map[string]bool{}
	for _, e := range ev[1:] {
		kind, id, _ := strings.Cut(e, " ")
		switch kind {
		case "connect":
			seen[id] = true
		case "message":
			if !seen[id] {
				t.Errorf("OnMessage of connection %s before its OnConnect: events %q", id, ev)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("OnConnect ran for %d connections, want %d: events %q", len(seen), n, ev)
	}
}

// infoWorker is a text worker that answers commands about its connection:
//
//	ctx    → the Context set in OnConnect
//	addr   → RemoteIP RemotePort LocalIP LocalPort IsIPv4 IsIPv6
//	bytes  → BytesRead BytesWritten, as they were before this reply
//	close  → closes the connection from the server side
//
// anything else is echoed. It records its callbacks in log.
func infoWorker(listen string, log *eventLog) *workerman.Worker {
	w := workerman.NewWorker(listen)
	w.Name = "info"
	w.OnWorkerStart = func(*workerman.Worker) { log.add("start") }
	w.OnWorkerStop = func(*workerman.Worker) { log.add("stop") }
	w.OnConnect = func(c *workerman.Connection) {
		log.add("connect %d", c.ID())
		c.Context = fmt.Sprintf("user-%d", c.ID())
	}
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		log.add("message %d", c.ID())
		switch string(m.Data) {
		case "ctx":
			c.SendString(c.Context.(string))
		case "addr":
			c.SendString(fmt.Sprintf("%s %d %s %d %v %v", c.RemoteIP(), c.RemotePort(), c.LocalIP(), c.LocalPort(), c.IsIPv4(), c.IsIPv6()))
		case "bytes":
			c.SendString(fmt.Sprintf("%d %d", c.BytesRead(), c.BytesWritten()))
		case "close":
			c.Close()
		default:
			c.Send(m.Data)
		}
	}
	w.OnClose = func(c *workerman.Connection) {
		ctx, _ := c.Context.(string)
		log.add("close %d %s", c.ID(), ctx)
	}
	return w
}

func TestConnectionCallbacksAndLookup(t *testing.T) {
	var log eventLog
	w := infoWorker("text://127.0.0.1:0", &log)
	p := workermantest.Start(t, w)

	// The connections as OnConnect saw them, by id.
	a := dialWorker(t, w)
	a.write("hi\n")
	a.expectLine("hi")
	b := dialWorker(t, w)
	b.write("hi\n")
	b.expectLine("hi")
	c := dialWorker(t, w)
	c.write("hi\n")
	c.expectLine("hi")

	ids := connectIDs(t, &log)
	if len(ids) != 3 {
		t.Fatalf("connect events for %d connections, want 3: %q", len(ids), log.events())
	}

	// Connections yields exactly the live ones, and Connection finds each.
	type view struct {
		live    map[uint64]bool
		lookups int
		bad     []string
		count   int
		missing bool
	}
	got := workermantest.OnLoopValue(t, p.Loop(), func() view {
		v := view{live: map[uint64]bool{}, count: w.ConnectionCount()}
		for conn := range w.Connections() {
			v.live[conn.ID()] = true
			if w.Connection(conn.ID()) == conn {
				v.lookups++
			}
			if conn.Worker() != w || conn.Status() != workerman.StatusEstablished {
				v.bad = append(v.bad, fmt.Sprintf("%d: worker %p status %v", conn.ID(), conn.Worker(), conn.Status()))
			}
		}
		v.missing = w.Connection(1<<62) != nil
		return v
	})
	for _, id := range ids {
		if !got.live[id] {
			t.Errorf("Connections() lacks live connection %d (has %v)", id, got.live)
		}
	}
	if len(got.live) != 3 || got.lookups != 3 || got.count != 3 {
		t.Errorf("Connections() yielded %d, Connection(id) found %d, ConnectionCount() = %d; want 3 each", len(got.live), got.lookups, got.count)
	}
	if got.missing {
		t.Error("Connection(unknown id) is not nil")
	}
	for _, s := range got.bad {
		t.Errorf("live connection %s, want this worker and ESTABLISHED", s)
	}

	// The Context set in OnConnect is there in OnMessage and OnClose.
	a.write("ctx\n")
	a.expectLine(fmt.Sprintf("user-%d", ids[0]))

	// Client close: OnClose once, and the connection is gone from the worker.
	a.Close()
	waitFor(t, "OnClose of the closed client", func() bool { return log.index(fmt.Sprintf("close %d user-%d", ids[0], ids[0])) >= 0 })
	// Server close.
	b.write("close\n")
	b.expectEOF()
	waitFor(t, "OnClose of the connection closed by the server", func() bool { return log.index(fmt.Sprintf("close %d user-%d", ids[1], ids[1])) >= 0 })
	left := workermantest.OnLoopValue(t, p.Loop(), func() []bool {
		return []bool{w.Connection(ids[0]) == nil, w.Connection(ids[1]) == nil, w.Connection(ids[2]) != nil, w.ConnectionCount() == 1}
	})
	if left[0] != true || left[1] != true || left[2] != true || left[3] != true {
		t.Errorf("after two closes: Connection(a) gone %v, Connection(b) gone %v, Connection(c) live %v, ConnectionCount()==1 %v", left[0], left[1], left[2], left[3])
	}

	// Stopping the process: OnWorkerStop, then OnClose of c, which the
	// client sees as EOF.
	workermantest.Stop(t, p)
	c.expectEOF()
	ev := log.events()
	stop, closeC := log.index("stop"), log.index(fmt.Sprintf("close %d user-%d", ids[2], ids[2]))
	if stop < 0 || closeC < 0 || stop > closeC {
		t.Errorf("want OnWorkerStop before the OnClose of the connection open at stop; events %q", ev)
	}
	if n := log.count("stop"); n != 1 {
		t.Errorf("OnWorkerStop ran %d times, want once", n)
	}
	if n := log.count("start"); n != 1 {
		t.Errorf("OnWorkerStart ran %d times, want once", n)
	}
	for _, id := range ids {
		n := 0
		for _, e := range ev {
			if strings.HasPrefix(e, fmt.Sprintf("close %d ", id)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("OnClose ran %d times for connection %d, want once; events %q", n, id, ev)
		}
	}
}

// connectIDs returns the ids of the connect events in order.
func connectIDs(t *testing.T, log *eventLog) []uint64 {
	t.Helper()
	var ids []uint64
	for _, e := range log.events() {
		if s, ok := strings.CutPrefix(e, "connect "); ok {
			id, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("bad event %q", e)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

func TestBytesReadAndWritten(t *testing.T) {
	var log eventLog
	w := infoWorker("text://127.0.0.1:0", &log)
	workermantest.Start(t, w)
	c := dialWorker(t, w)
	sent, received := 0, 0
	for _, line := range []string{"one", "two two", strings.Repeat("x", 100000)} {
		c.write(line + "\n")
		sent += len(line) + 1
		c.expectLine(line)
		received += len(line) + 1
	}
	c.write("bytes\n")
	sent += len("bytes\n")
	if got, want := c.readLine(), fmt.Sprintf("%d %d", sent, received); got != want {
		t.Errorf("BytesRead BytesWritten = %s, want %s", got, want)
	}
}

func TestAddresses(t *testing.T) {
	check := func(t *testing.T, listen, dialTo string, wantIP string, v4 bool) {
		var log eventLog
		w := infoWorker(listen, &log)
		workermantest.Start(t, w)
		c := dial(t, netip.MustParseAddrPort(fmt.Sprintf("%s:%d", dialTo, w.Addr().Port())))
		c.write("addr\n")
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		want := fmt.Sprintf("%s %d %s %d %v %v", wantIP, local.Port(), wantIP, remote.Port(), v4, !v4)
		if got := c.readLine(); got != want {
			t.Errorf("RemoteIP RemotePort LocalIP LocalPort IsIPv4 IsIPv6 = %q, want %q", got, want)
		}
	}
	t.Run("IPv4", func(t *testing.T) { check(t, "text://127.0.0.1:0", "127.0.0.1", "127.0.0.1", true) })
	t.Run("IPv6", func(t *testing.T) {
		skipWithoutIPv6(t)
		check(t, "text://[::1]:0", "[::1]", "::1", false)
	})
	t.Run("IPv4 client of a dual-stack listener", func(t *testing.T) {
		skipWithoutIPv6(t)
		check(t, "text://[::]:0", "127.0.0.1", "127.0.0.1", true)
	})
}

func skipWithoutIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this host: %v", err)
	}
	ln.Close()
}
