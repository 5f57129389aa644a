package workerman_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// newAsync creates an AsyncTcpConnection on p's loop whose callbacks record
// into log, and returns it without connecting.
func newAsync(t *testing.T, p *workerman.Process, remote string, log *eventLog) *workerman.AsyncTcpConnection {
	t.Helper()
	type res struct {
		c   *workerman.AsyncTcpConnection
		err error
	}
	r := workermantest.OnLoopValue(t, p.Loop(), func() res {
		c, err := workerman.NewAsyncTcpConnection(p.Loop(), remote)
		if err != nil {
			return res{nil, err}
		}
		c.OnConnect = func(c *workerman.AsyncTcpConnection) {
			log.add("connect %s:%d", c.RemoteIP(), c.RemotePort())
		}
		c.OnMessage = func(_ *workerman.Connection, m workerman.Message) { log.add("message %s", m.Data) }
		c.OnClose = func(*workerman.Connection) { log.add("close") }
		c.OnError = func(_ *workerman.Connection, code workerman.ErrorCode, err error) {
			log.add("error %v", code)
			log.add("error detail: %v", err)
		}
		return res{c, nil}
	})
	if r.err != nil {
		t.Fatalf("NewAsyncTcpConnection(%q): %v", remote, r.err)
	}
	return r.c
}

// waitEvents waits until log holds n events and returns them.
func waitEvents(t *testing.T, log *eventLog, n int) []string {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events", n), func() bool { return len(log.events()) >= n })
	return log.events()
}

func TestAsyncTcpConnectionQueuesSendsUntilConnected(t *testing.T) {
	w := textWorker("echo")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)

	var log eventLog
	ac := newAsync(t, p, "text://"+w.Addr().String(), &log)
	type step struct {
		r1, r2         workerman.SendResult
		before, during workerman.Status
	}
	got := workermantest.OnLoopValue(t, p.Loop(), func() step {
		var s step
		s.before = ac.Status()
		s.r1 = ac.SendString("early 1")
		s.r2 = ac.SendString("early 2")
		ac.Connect()
		s.during = ac.Status()
		return s
	})
	want := step{workerman.Queued, workerman.Queued, workerman.StatusInitial, workerman.StatusConnecting}
	if got != want {
		t.Errorf("send before Connect, send, status before and after Connect = %+v, want %+v", got, want)
	}
	connect := fmt.Sprintf("connect 127.0.0.1:%d", w.Addr().Port())
	ev := waitEvents(t, &log, 3)
	if strings.Join(ev, "|") != connect+"|message early 1|message early 2" {
		t.Fatalf("events %q, want OnConnect and then both early messages echoed", ev)
	}
	if r := workermantest.OnLoopValue(t, p.Loop(), func() workerman.SendResult { return ac.SendString("later") }); r != workerman.Sent {
		t.Errorf("Send once connected = %v, want sent", r)
	}
	waitEvents(t, &log, 4)
	if ac.RemoteHost() != "127.0.0.1" {
		t.Errorf("RemoteHost() = %q", ac.RemoteHost())
	}
	workermantest.OnLoop(t, p.Loop(), func() { ac.Close() })
	ev = waitEvents(t, &log, 5)
	if strings.Join(ev[3:], "|") != "message later|close" {
		t.Errorf("events %q, want the later echo and then OnClose", ev)
	}
	waitOnLoop(t, p, "the echo side to close too", func() bool {
		return w.ConnectionCount() == 0 && p.Loop().Stats().Connections == 0
	})
}

// closedPort returns a loopback port with nothing listening on it.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestAsyncTcpConnectionRefused(t *testing.T) {
	p := workermantest.Start(t, textWorker("idle"))
	var log eventLog
	ac := newAsync(t, p, fmt.Sprintf("text://127.0.0.1:%d", closedPort(t)), &log)
	workermantest.OnLoop(t, p.Loop(), func() { ac.Connect() })
	ev := waitEvents(t, &log, 3)
	if ev[0] != "error CONNECT_FAIL" || ev[2] != "close" {
		t.Fatalf("events %q, want OnError(CONNECT_FAIL) and then OnClose", ev)
	}
	if !strings.Contains(ev[1], "refused") {
		t.Errorf("the error does not say the connection was refused: %s", ev[1])
	}
	// Nothing more: no OnConnect, no second OnClose.
	workermantest.OnLoop(t, p.Loop(), func() {})
	if ev := log.events(); len(ev) != 3 {
		t.Errorf("events %q, want exactly OnError and OnClose", ev)
	}
	st := workermantest.OnLoopValue(t, p.Loop(), func() []any { return []any{ac.Status(), p.Loop().Stats().Connections} })
	if st[0] != workerman.StatusClosed || st[1] != 0 {
		t.Errorf("status, Stats().Connections = %v, want CLOSED, 0", st)
	}
}

// fullBacklog returns the address of a listening socket that never accepts
// and whose accept queue is full, so the kernel drops further SYNs: a
// connect to it hangs, on loopback, until the client gives up.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Fill the accept queue: dial until a connect no longer completes.
	for i := range 16 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the backlog, connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen backlog of 1 with 16 connections: the kernel does not drop SYNs here")
	return ""
}

func TestAsyncTcpConnectionConnectTimeout(t *testing.T) {
	addr := fullBacklog(t)
	p := workermantest.Start(t, textWorker("idle"))
	var log eventLog
	ac := newAsync(t, p, "text://"+addr, &log)
	start := time.Now()
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.ConnectTimeout = 200 * time.Millisecond
		prev := ac.OnError
		ac.OnError = func(c *workerman.Connection, code workerman.ErrorCode, err error) {
			if errors.Is(err, workerman.ErrConnectTimeout) {
				log.add("timeout")
			}
			prev(c, code, err)
		}
		ac.Connect()
	})
	ev := waitEvents(t, &log, 4)
	elapsed := time.Since(start)
	if strings.Join([]string{ev[0], ev[1], ev[3]}, "|") != "timeout|error CONNECT_FAIL|close" {
		t.Fatalf("events %q, want OnError(CONNECT_FAIL, ErrConnectTimeout) and then OnClose", ev)
	}
	if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("the connect failed after %s, want about the 200ms ConnectTimeout", elapsed)
	}
}

func TestAsyncTcpConnectionReconnectFromOnClose(t *testing.T) {
	// The server greets and hangs up.
	srv := textWorker("greeter")
	srv.OnConnect = func(c *workerman.Connection) { c.Close([]byte("hello")) }
	p := workermantest.Start(t, srv)

	const rounds = 3
	var log eventLog
	ac := newAsync(t, p, "text://"+srv.Addr().String(), &log)
	ids := make(chan uint64, rounds+1)
	workermantest.OnLoop(t, p.Loop(), func() {
		connects := 0
		prevConnect, prevClose := ac.OnConnect, ac.OnClose
		ac.OnConnect = func(c *workerman.AsyncTcpConnection) {
			connects++
			ids <- c.ID()
			prevConnect(c)
		}
		ac.OnClose = func(c *workerman.Connection) {
			prevClose(c)
			if connects < rounds {
				ac.Reconnect(20 * time.Millisecond)
			}
		}
		ac.Connect()
	})
	connect := fmt.Sprintf("connect 127.0.0.1:%d", srv.Addr().Port())
	want := strings.Repeat(connect+"|message hello|close|", rounds)
	ev := waitEvents(t, &log, 3*rounds)
	if got := strings.Join(ev, "|") + "|"; got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	first := <-ids
	for range rounds - 1 {
		if id := <-ids; id != first {
			t.Errorf("the connection's ID changed on reconnect: %d, then %d", first, id)
		}
	}
	// Nothing after the last round: no reconnect is pending.
	waitOnLoop(t, p, "all connections closed", func() bool { return p.Loop().Stats().Connections == 0 })
	if ev := log.events(); len(ev) != 3*rounds {
		t.Errorf("events after the last round: %q", ev[3*rounds:])
	}
}

func TestAsyncTcpConnectionReconnectWhileConnected(t *testing.T) {
	w := textWorker("echo")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	var log eventLog
	ac := newAsync(t, p, "text://"+w.Addr().String(), &log)
	workermantest.OnLoop(t, p.Loop(), func() { ac.Connect() })
	connect := fmt.Sprintf("connect 127.0.0.1:%d", w.Addr().Port())
	waitEvents(t, &log, 1)
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.Reconnect(0)
		ac.SendString("again") // queued until the new connection is up
	})
	ev := waitEvents(t, &log, 4)
	if got := strings.Join(ev, "|"); got != connect+"|close|"+connect+"|message again" {
		t.Errorf("events %q, want connect, close, connect, echo", ev)
	}
	// CancelReconnect stops a scheduled reconnect.
	workermantest.OnLoop(t, p.Loop(), func() {
		ac.Reconnect(50 * time.Millisecond)
		ac.CancelReconnect()
	})
	ev = waitEvents(t, &log, 5)
	if ev[4] != "close" {
		t.Errorf("events %q, want OnClose from Reconnect", ev)
	}
	// Let the loop pass the cancelled reconnect's time.
	passed := make(chan struct{})
	workermantest.OnLoop(t, p.Loop(), func() {
		p.Loop().Timer().AddOnce(200*time.Millisecond, func() { close(passed) })
	})
	select {
	case <-passed:
	case <-time.After(waitTimeout):
		t.Fatal("a 200ms timer did not fire")
	}
	st := workermantest.OnLoopValue(t, p.Loop(), func() []any { return []any{ac.Status(), p.Loop().Stats().Timers} })
	if st[0] != workerman.StatusInitial || st[1] != 0 {
		t.Errorf("after CancelReconnect: status, pending timers = %v, want INITIAL, 0", st)
	}
	if ev := log.events(); len(ev) != 5 {
		t.Errorf("events %q, want no reconnect after CancelReconnect", ev)
	}
}

func TestAsyncTcpConnectionResolvesHostNames(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	// Listen on every family, since localhost may resolve to ::1 first.
	listen := "text://127.0.0.1:0"
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		listen = "text://[::]:0"
	}
	w := workerman.NewWorker(listen)
	w.Name = "echo"
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	var log eventLog
	ac := newAsync(t, p, fmt.Sprintf("text://localhost:%d", w.Addr().Port()), &log)
	status := workermantest.OnLoopValue(t, p.Loop(), func() workerman.Status {
		ac.SendString("by name")
		ac.Connect()
		return ac.Status()
	})
	// Connect returned without resolving: the lookup runs off the loop, so
	// the connection is not even connecting yet.
	if status != workerman.StatusInitial {
		t.Errorf("status right after Connect to a host name = %v, want INITIAL (resolving off the loop)", status)
	}
	ev := waitEvents(t, &log, 2)
	if !strings.HasPrefix(ev[0], "connect ") || ev[1] != "message by name" {
		t.Fatalf("events %q, want OnConnect and the echo", ev)
	}
	if h := workermantest.OnLoopValue(t, p.Loop(), func() string { return ac.RemoteHost() }); h != "localhost" {
		t.Errorf("RemoteHost() = %q, want localhost", h)
	}
}

func TestNewAsyncTcpConnectionRejectsBadAddresses(t *testing.T) {
	p := workermantest.Start(t, textWorker("idle"))
	for _, tc := range []struct{ remote, want string }{
		{"websocket://127.0.0.1:80", "server protocol"},
		{"http://127.0.0.1:80", "server protocol"},
		{"https://127.0.0.1:443", "server protocol"},
		{"ssl://127.0.0.1:443/path", "take a path"},
		{"nope://127.0.0.1:80", `unknown protocol "nope"`},
		{"text://127.0.0.1", "missing port"},
		{"127.0.0.1:80", "scheme"},
	} {
		err := workermantest.OnLoopValue(t, p.Loop(), func() error {
			_, err := workerman.NewAsyncTcpConnection(p.Loop(), tc.remote)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewAsyncTcpConnection(%q) = %v, want an error containing %q", tc.remote, err, tc.want)
		}
	}
}
