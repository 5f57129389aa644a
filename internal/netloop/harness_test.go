//go:build linux

package netloop

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	_ "github.com/workermand/workermand/internal/protocol"
	"github.com/workermand/workermand/internal/sockets"
)

// Time bounds. The test machine is small and noisy and tests run under -race,
// so every bound is generous: a bound only exists so that a broken loop fails
// the test instead of hanging it.
const (
	ioTimeout   = 10 * time.Second // deadline on every client socket
	waitTimeout = 10 * time.Second // how long a polled condition may take
	stopTimeout = 10 * time.Second // how long Run may take to return after Stop
)

// testLoop is a Loop run on its own goroutine for one test.
type testLoop struct {
	t     *testing.T
	loop  *Loop
	done  chan error // receives Run's result
	ran   bool       // run was called
	ended bool       // Run's result was received
	err   error      // Run's result
}

// newTestLoop creates a loop and registers its cleanup: Stop and wait for Run
// to return when it was started, Close otherwise.
func newTestLoop(t *testing.T, cfg Config) *testLoop {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tl := &testLoop{t: t, loop: l, done: make(chan error, 1)}
	t.Cleanup(func() {
		if !tl.ran {
			l.Close() // frees the listeners too
			return
		}
		if tl.ended {
			return
		}
		l.Stop()
		select {
		case err := <-tl.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("Run did not return within %v of Stop", stopTimeout)
		}
	})
	return tl
}

// listen opens a TCP listener on 127.0.0.1 with an ephemeral port and
// registers it. Call before run, or on the loop.
func (tl *testLoop) listen(proto codec.Protocol, h Handler, lcfg ListenerConfig) (*Listener, string) {
	tl.t.Helper()
	fd, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		tl.t.Fatalf("ListenTCP: %v", err)
	}
	return tl.addListener(fd, proto, h, lcfg)
}

// addListener registers the listening socket fd with handler h.
func (tl *testLoop) addListener(fd int, proto codec.Protocol, h Handler, lcfg ListenerConfig) (*Listener, string) {
	tl.t.Helper()
	lcfg.Protocol = proto
	if lcfg.NewConn == nil {
		lcfg.NewConn = func() *Conn {
			c := &Conn{}
			c.SetHandler(h)
			return c
		}
	}
	ln, err := tl.loop.AddListener(fd, lcfg)
	if err != nil {
		tl.t.Fatalf("AddListener: %v", err)
	}
	return ln, ln.Addr().String()
}

// run starts Run on a new goroutine.
func (tl *testLoop) run() {
	tl.ran = true
	go func() { tl.done <- tl.loop.Run() }()
}

// stopAndWait stops the loop and waits for Run to return.
func (tl *testLoop) stopAndWait() error {
	tl.t.Helper()
	if tl.ended {
		return tl.err
	}
	tl.loop.Stop()
	select {
	case tl.err = <-tl.done:
		tl.ended = true
		return tl.err
	case <-time.After(stopTimeout):
		tl.t.Fatalf("Run did not return within %v of Stop", stopTimeout)
		return nil
	}
}

// do runs fn on the loop and waits for it to finish.
func (tl *testLoop) do(fn func()) {
	tl.t.Helper()
	done := make(chan struct{})
	tl.loop.Post(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
	case <-time.After(waitTimeout):
		tl.t.Fatalf("task posted to the loop did not run within %v", waitTimeout)
	}
}

// stats reads the loop's counters on the loop.
func (tl *testLoop) stats() Stats {
	tl.t.Helper()
	var s Stats
	tl.do(func() { s = tl.loop.Stats() })
	return s
}

// waitStats polls the loop's counters until cond holds.
func (tl *testLoop) waitStats(what string, cond func(Stats) bool) Stats {
	tl.t.Helper()
	var s Stats
	deadline := time.Now().Add(waitTimeout)
	for s = tl.stats(); !cond(s); s = tl.stats() {
		if time.Now().After(deadline) {
			tl.t.Fatalf("timed out after %v waiting for %s; stats %+v", waitTimeout, what, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s
}

// startLoop creates and runs a loop with one listener on 127.0.0.1:0 that
// speaks the named protocol and sends its events to h.
func startLoop(t *testing.T, cfg Config, protoName string, h Handler, lcfg ListenerConfig) (*testLoop, *Listener, string) {
	t.Helper()
	tl := newTestLoop(t, cfg)
	ln, addr := tl.listen(lookup(t, protoName), h, lcfg)
	tl.run()
	return tl, ln, addr
}

func lookup(t *testing.T, name string) codec.Protocol {
	t.Helper()
	p, ok := codec.Lookup(name)
	if !ok {
		t.Fatalf("protocol %q is not registered", name)
	}
	return p
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		var zero T
		return zero
	}
}

// handler is a Handler built from optional functions.
type handler struct {
	open    func(c *Conn)
	message func(c *Conn, m codec.Message)
	close   func(c *Conn)
	full    func(c *Conn)
	drain   func(c *Conn)
	err     func(c *Conn, code ErrorCode, err error)
}

func (h *handler) OnOpen(c *Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *handler) OnMessage(c *Conn, m codec.Message) {
	if h.message != nil {
		h.message(c, m)
	}
}

func (h *handler) OnClose(c *Conn) {
	if h.close != nil {
		h.close(c)
	}
}

func (h *handler) OnBufferFull(c *Conn) {
	if h.full != nil {
		h.full(c)
	}
}

func (h *handler) OnBufferDrain(c *Conn) {
	if h.drain != nil {
		h.drain(c)
	}
}

func (h *handler) OnError(c *Conn, code ErrorCode, err error) {
	if h.err != nil {
		h.err(c, code, err)
	}
}

// echo sends every message back.
func echo(c *Conn, m codec.Message) { c.Send(m.Data) }

func echoHandler() *handler { return &handler{message: echo} }

// client is a test-side TCP connection with a deadline and a line reader.
type client struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return wrapClient(t, c)
}

// wrapClient sets c's deadline, closes it at cleanup and adds a reader.
func wrapClient(t *testing.T, c net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// refresh moves the deadline ioTimeout ahead of now: every client operation
// is bounded, however long the test has been running.
func (c *client) refresh() {
	c.t.Helper()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatalf("SetDeadline: %v", err)
	}
}

func (c *client) write(s string) {
	c.t.Helper()
	c.refresh()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("client write: %v", err)
	}
}

// line reads one line, without its '\n'.
func (c *client) line() string {
	c.t.Helper()
	c.refresh()
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("client read line (got %q so far): %v", s, err)
	}
	return strings.TrimSuffix(s, "\n")
}

func (c *client) expectLine(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("client read %q, want %q", got, want)
	}
}

// roundTrip writes a line and expects it echoed.
func (c *client) roundTrip(s string) {
	c.t.Helper()
	c.write(s + "\n")
	c.expectLine(s)
}

// expectEOF reads until the server's FIN, which must come with no more data.
func (c *client) expectEOF() {
	c.t.Helper()
	c.refresh()
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("expected EOF, read %q", append([]byte{b}, rest...))
	case errors.Is(err, io.EOF):
	default:
		c.t.Fatalf("expected EOF, got %v", err)
	}
}

// frame encodes p in the frame protocol: a 4-byte big-endian length that
// counts itself, then p.
func frame(p string) string {
	n := len(p) + 4
	return string([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}) + p
}

// readFrame reads one frame-protocol message.
func (c *client) readFrame() string {
	c.t.Helper()
	c.refresh()
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		c.t.Fatalf("read frame header: %v", err)
	}
	n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n < 4 || n > 1<<20 {
		c.t.Fatalf("bad frame length %d", n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("read frame body: %v", err)
	}
	return string(body)
}

func itoa(i int) string { return strconv.Itoa(i) }
