//go:build linux

package netloop

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/codec"
)

// TestPostManyGoroutines: tasks posted from many goroutines all run, exactly
// once each, on the loop, and in the order each goroutine posted them.
func TestPostManyGoroutines(t *testing.T) {
	const goroutines, perGoroutine = 8, 1000
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()

	next := make([]int, goroutines) // loop-only: next index expected per goroutine
	var outOfOrder, offLoop, total int
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				l.Post(func() {
					if !l.OnLoop() {
						offLoop++
					}
					if next[g] != i {
						outOfOrder++
					}
					next[g] = i + 1
					total++
				})
			}
		})
	}
	wg.Wait()
	// Every poster has returned; a task posted now runs after all of theirs.
	tl.do(func() {})
	tl.do(func() {
		if total != goroutines*perGoroutine {
			t.Errorf("%d tasks ran, want %d", total, goroutines*perGoroutine)
		}
		for g, n := range next {
			if n != perGoroutine {
				t.Errorf("goroutine %d: last task run was #%d, want #%d", g, n-1, perGoroutine-1)
			}
		}
		if outOfOrder != 0 {
			t.Errorf("%d tasks ran out of their goroutine's order", outOfOrder)
		}
		if offLoop != 0 {
			t.Errorf("%d tasks saw OnLoop() == false", offLoop)
		}
	})
	if l.OnLoop() {
		t.Errorf("OnLoop() is true on the test goroutine while the loop runs")
	}
}

// TestPostFromTask: a task posted by a task runs on a later turn, even though
// the loop has no other reason to wake up.
func TestPostFromTask(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()
	done := make(chan int, 1)
	var chain func(n int)
	chain = func(n int) {
		if n == 100 {
			done <- n
			return
		}
		l.Post(func() { chain(n + 1) })
	}
	l.Post(func() { chain(0) })
	if n := recv(t, "a chain of 100 self-posting tasks", done); n != 100 {
		t.Fatalf("chain ended at %d", n)
	}
}

// TestStopFromAnotherGoroutine: Stop makes Run return; on the way out the
// shutdown hook runs on the loop, every connection is closed (OnClose runs,
// the client sees EOF) and the listener stops accepting.
func TestStopFromAnotherGoroutine(t *testing.T) {
	closed := 0
	h := &handler{message: echo, close: func(*Conn) { closed++ }}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
	l := tl.loop
	hookOnLoop := make(chan bool, 1)
	tl.do(func() { l.BeforeShutdown = func() { hookOnLoop <- l.OnLoop() } })

	var clients []*client
	for i := range 3 {
		c := dial(t, addr)
		c.roundTrip("hello " + itoa(i))
		clients = append(clients, c)
	}
	if !l.Running() {
		t.Fatalf("Running() is false while Run runs")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- tl.stopAndWait() }()
	if err := recv(t, "Run to return after Stop", stopped); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if l.Running() {
		t.Errorf("Running() is true after Run returned")
	}
	if !recv(t, "the shutdown hook", hookOnLoop) {
		t.Errorf("BeforeShutdown ran off the loop")
	}
	if closed != 3 { // Run has returned: reading loop state is safe now
		t.Errorf("OnClose ran %d times for 3 connections, want 3", closed)
	}
	for _, c := range clients {
		c.expectEOF()
	}
	if c, err := net.DialTimeout("tcp", addr, ioTimeout); err == nil {
		c.Close()
		t.Errorf("listener still accepts connections after the loop stopped")
	}
}

// TestPostAfterStop: once Run has returned, Post and Stop neither run the
// task nor write anywhere: the loop's eventfd is closed and its number may
// already belong to another socket of the process.
func TestPostAfterStop(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	efd := l.efd
	tl.run()
	tl.do(func() {})
	if err := tl.stopAndWait(); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	// Open socket pairs until one lands on the eventfd's old number (the
	// kernel hands out the lowest free descriptor).
	peer := -1
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range 1000 {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socketpair: %v", err)
		}
		fds = append(fds, p[0], p[1])
		if p[0] == efd {
			peer = p[1]
		} else if p[1] == efd {
			peer = p[0]
		}
		if peer >= 0 {
			break
		}
	}
	if peer < 0 {
		t.Fatalf("no socket reused descriptor %d", efd)
	}

	ran := false
	l.Post(func() { ran = true })
	l.Stop()
	var buf [64]byte
	n, err := unix.Read(peer, buf[:])
	if n > 0 {
		t.Errorf("Post after the loop stopped wrote %d bytes (% x) to an unrelated socket that reused the eventfd's number", n, buf[:n])
	} else if !errors.Is(err, unix.EAGAIN) {
		t.Errorf("read from the unrelated socket: n=%d err=%v, want EAGAIN", n, err)
	}
	if ran {
		t.Errorf("task posted after stop ran")
	}
}

// TestPanicIsolation: a panic in OnMessage closes only that connection (its
// client sees EOF) and is counted; other connections keep echoing. Panics in
// OnOpen, OnClose, timers and tasks are counted too and the loop carries on.
func TestPanicIsolation(t *testing.T) {
	var openPanics, closePanics int // loop-only
	h := &handler{
		open: func(c *Conn) {
			if openPanics > 0 {
				openPanics--
				panic("test: OnOpen panics")
			}
		},
		message: func(c *Conn, m codec.Message) {
			switch string(m.Data) {
			case "boom":
				c.Send([]byte("about to panic")) // corked output is dropped with the connection
				panic("test: OnMessage panics")
			case "close-boom":
				closePanics++
				c.Close()
				return
			}
			echo(c, m)
		},
		close: func(c *Conn) {
			if closePanics > 0 {
				closePanics--
				panic("test: OnClose panics")
			}
		},
	}
	tl, _, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
	l := tl.loop

	a, b, victim := dial(t, addr), dial(t, addr), dial(t, addr)
	a.roundTrip("a1")
	b.roundTrip("b1")
	victim.roundTrip("v1")
	victim.write("boom\n")
	victim.expectEOF()
	s := tl.waitStats("the OnMessage panic to be counted", func(s Stats) bool { return s.Exceptions == 1 })
	if s.Connections != 2 {
		t.Errorf("Connections = %d after the panicking connection closed, want 2", s.Connections)
	}
	a.roundTrip("a2")
	b.roundTrip("b2")

	// OnOpen panics: the new connection is closed, the others carry on.
	tl.do(func() { openPanics = 1 })
	bad := dial(t, addr)
	bad.expectEOF()
	tl.waitStats("the OnOpen panic", func(s Stats) bool { return s.Exceptions == 2 })
	a.roundTrip("a3")

	// OnClose panics: counted once, the connection is still gone.
	c := dial(t, addr)
	c.roundTrip("c1")
	c.write("close-boom\n")
	c.expectEOF()
	tl.waitStats("the OnClose panic", func(s Stats) bool { return s.Exceptions == 3 })

	// A panicking one-shot timer, a panicking repeating timer (which keeps
	// firing) and a panicking task followed by a task in the same batch.
	repeats := make(chan struct{}, 100)
	var rep TimerID
	tl.do(func() {
		l.AddTimer(time.Millisecond, false, func() { panic("test: timer panics") })
		rep = l.AddTimer(time.Millisecond, true, func() {
			select {
			case repeats <- struct{}{}:
			default:
			}
			panic("test: repeating timer panics")
		})
	})
	for range 3 {
		recv(t, "the panicking repeating timer to fire again", repeats)
	}
	tl.do(func() { l.DelTimer(rep) })
	after := make(chan bool, 1)
	l.Post(func() { panic("test: task panics") })
	l.Post(func() { after <- l.OnLoop() })
	if !recv(t, "the task posted after a panicking task", after) {
		t.Errorf("task ran off the loop")
	}
	s = tl.stats()
	if s.Exceptions < 3+1+3+1 {
		t.Errorf("Exceptions = %d, want at least 8 (3 callbacks, 1+3 timer ticks, 1 task)", s.Exceptions)
	}
	a.roundTrip("a4")
	b.roundTrip("b4")
	if s.Connections != 2 {
		t.Errorf("Connections = %d, want 2", s.Connections)
	}
}

// TestStaleEventForReusedFD: an event reported for a connection that was
// destroyed, whose descriptor now belongs to a new connection, is ignored:
// the generation id in the event no longer matches.
func TestStaleEventForReusedFD(t *testing.T) {
	var opened []*Conn
	closed := map[*Conn]bool{}
	h := &handler{
		open:    func(c *Conn) { opened = append(opened, c) },
		message: echo,
		close:   func(c *Conn) { closed[c] = true },
	}
	tl, ln, addr := startLoop(t, Config{}, "text", h, ListenerConfig{})
	l := tl.loop

	for attempt := 1; ; attempt++ {
		oldClient := dial(t, addr)
		oldClient.roundTrip("old")
		var (
			old, reused       *Conn
			fdReused          bool
			oldFD             int
			oldGen            uint32
			newClient         net.Conn
			dialErr           error
			reusedStillOK     bool
			reusedSawClose    bool
			oldGenEqualsReuse bool
		)
		tl.do(func() {
			old = opened[len(opened)-1]
			oldFD, oldGen = old.fd, old.gen
			// Connect first so the client socket does not take the freed
			// number; the kernel completes the handshake on its own.
			newClient, dialErr = net.DialTimeout("tcp", addr, ioTimeout)
			if dialErr != nil {
				return
			}
			// One dispatch: destroy the old connection, accept the new one
			// (it gets the lowest free descriptor: the old one's), then
			// deliver a stale hang-up event for the old connection.
			old.destroy()
			ln.accept()
			reused = opened[len(opened)-1]
			fdReused = reused != old && reused.fd == oldFD
			if !fdReused {
				return
			}
			oldGenEqualsReuse = reused.gen == oldGen
			// Hang-up only: delivered to the new connection it would destroy
			// it (an EPOLLIN would just read nothing and go unnoticed).
			l.dispatch(oldFD, oldGen, unix.EPOLLHUP|unix.EPOLLERR)
			reusedStillOK = reused.Status() == StatusEstablished && l.conns[oldFD] == reused
			reusedSawClose = closed[reused]
		})
		if dialErr != nil {
			t.Fatalf("dial: %v", dialErr)
		}
		nc := wrapClient(t, newClient)
		oldClient.expectEOF()
		if !fdReused {
			if attempt == 5 {
				t.Fatalf("new connection never reused the destroyed connection's descriptor")
			}
			continue
		}
		if oldGenEqualsReuse {
			t.Fatalf("new connection on a reused descriptor kept generation %d", oldGen)
		}
		if !reusedStillOK || reusedSawClose {
			t.Fatalf("stale event for the old connection hit the new one (established=%v, OnClose=%v)", reusedStillOK, reusedSawClose)
		}
		nc.roundTrip("new connection on a reused descriptor")
		return
	}
}
