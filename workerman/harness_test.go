package workerman_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/workermand/workermand/handlers/echo" // registers "echo"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// Generous bounds: the tests run on a small, noisy machine under -race.
// The harness itself (workermantest) waits up to its Timeout.
const (
	waitTimeout = 15 * time.Second // a polled condition must hold within this
	ioTimeout   = 15 * time.Second // a client read or write must finish within this
)

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitOnLoop polls cond on p's loop until it holds.
func waitOnLoop(t testing.TB, p *workerman.Process, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool { return workermantest.OnLoopValue(t, p.Loop(), cond) })
}

// client is a test's end of a connection to a worker.
type client struct {
	t testing.TB
	net.Conn
	r *bufio.Reader
}

// dial connects to a worker and closes the connection when the test ends.
func dial(t testing.TB, addr netip.AddrPort) *client {
	t.Helper()
	c := workermantest.DialAddr(t, addr.String())
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// dialWorker dials the worker's bound address.
func dialWorker(t testing.TB, w *workerman.Worker) *client {
	t.Helper()
	return dial(t, w.Addr())
}

func (c *client) write(s string) {
	c.t.Helper()
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("write %.40q: %v", s, err)
	}
}

// readLine reads one line, without its '\n'.
func (c *client) readLine() string {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

func (c *client) expectLine(want string) {
	c.t.Helper()
	if got := c.readLine(); got != want {
		c.t.Fatalf("got line %q, want %q", got, want)
	}
}

// expectEOF checks that the server closed the connection with nothing more
// to read (a reset counts as closed too).
func (c *client) expectEOF() {
	c.t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("want EOF, read %q", append([]byte{b}, rest...))
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("want EOF, the connection is still open after %s", ioTimeout)
	case errors.Is(err, io.EOF), isReset(err):
	default:
		c.t.Fatalf("want EOF, got %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && strings.Contains(oe.Err.Error(), "reset")
}

// eventLog records callback events from the loop for the test goroutine.
type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.ev = append(l.ev, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ev...)
}

func (l *eventLog) count(ev string) int {
	n := 0
	for _, e := range l.events() {
		if e == ev {
			n++
		}
	}
	return n
}

func (l *eventLog) index(ev string) int {
	for i, e := range l.events() {
		if e == ev {
			return i
		}
	}
	return -1
}

// textWorker returns a worker on a free loopback port with the text
// protocol.
func textWorker(name string) *workerman.Worker {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.Name = name
	return w
}

// echoHandler returns the registered echo handler.
func echoHandler(t testing.TB) workerman.Handler {
	t.Helper()
	h, err := workerman.NewHandler("echo", nil)
	if err != nil {
		t.Fatalf("NewHandler(echo): %v", err)
	}
	return h
}
