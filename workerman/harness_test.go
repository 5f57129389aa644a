package workerman_test

import (
	"bufio"
	"context"
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
)

// Generous bounds: the tests run on a small, noisy machine under -race.
const (
	loopTimeout = 10 * time.Second // a posted function must run within this
	waitTimeout = 15 * time.Second // a polled condition must hold within this
	ioTimeout   = 15 * time.Second // a client read or write must finish within this
	stopTimeout = 15 * time.Second // Run must return within this after a stop
)

// run is the state of a Process started by startProcess.
type run struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, valid once done is closed
}

var runs sync.Map // *workerman.Process → *run

// newProcess creates a Process for workers (failing the test on error) and
// closes nothing: NewProcess only binds sockets, which Run closes on exit.
// Use runProcess to start it.
func newProcess(t testing.TB, opts workerman.ProcessOptions, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	p, err := workerman.NewProcess(opts, workers...)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	return p
}

// runProcess runs p.Run on its own goroutine and registers a cleanup that
// stops it and waits for Run to return. It does not wait for the loop to
// start.
func runProcess(t testing.TB, p *workerman.Process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan struct{})}
	runs.Store(p, r)
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx)
	}()
	t.Cleanup(func() { stopProcess(t, p) })
}

// startProcess creates and runs a process for workers and returns once its
// loop has run a posted function (so every OnWorkerStart has returned). The
// process is stopped, and Run waited for, when the test ends.
func startProcess(t testing.TB, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	return startProcessOpts(t, workerman.ProcessOptions{}, workers...)
}

func startProcessOpts(t testing.TB, opts workerman.ProcessOptions, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	p := newProcess(t, opts, workers...)
	runProcess(t, p)
	onLoop(t, p, func() struct{} { return struct{}{} })
	return p
}

// stopProcess stops p (through Run's context, so it is safe to repeat) and
// waits for Run to return, failing the test if it does not, or if it
// returned an error.
func stopProcess(t testing.TB, p *workerman.Process) {
	t.Helper()
	v, ok := runs.Load(p)
	if !ok {
		t.Fatalf("stopProcess: process was not started with runProcess")
	}
	r := v.(*run)
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Process.Run: %v", r.err)
		}
	case <-time.After(stopTimeout):
		t.Errorf("Process.Run did not return within %s of the stop", stopTimeout)
	}
}

// runDone reports whether p's Run has returned.
func runDone(p *workerman.Process) bool {
	v, ok := runs.Load(p)
	if !ok {
		return false
	}
	select {
	case <-v.(*run).done:
		return true
	default:
		return false
	}
}

// onLoop runs fn on p's loop and returns its result. It fails the test if
// the loop does not run it in time.
func onLoop[T any](t testing.TB, p *workerman.Process, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	p.Loop().Post(func() { ch <- fn() })
	select {
	case v := <-ch:
		return v
	case <-time.After(loopTimeout):
		t.Fatalf("the event loop did not run a posted function within %s", loopTimeout)
		panic("unreachable")
	}
}

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
	waitFor(t, what, func() bool { return onLoop(t, p, cond) })
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
	c, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
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
