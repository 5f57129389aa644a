// Package workermantest runs workers in a test, as net/http/httptest runs
// handlers: Start gives a Process that accepts connections, stops with the
// test, and fails it when Run returns an error or does not return.
//
// A Process runs its workers on one event loop, and a worker's state
// (Worker.Connection, counters, what a handler keeps per process) belongs to
// that loop. OnLoop, OnLoopValue and OnLoopAsync run a function there and
// wait for it, so a test reads that state without a data race.
//
// Every wait is bounded by Timeout, so a broken handler fails its test
// instead of hanging it.
//
// A handler can also be tested without a server: DecodeTOML builds it from
// the options a config file would give, and ResponseBody reads the body of
// an HTTP answer it returns, file bodies included.
package workermantest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
)

// Timeout bounds each wait: for a process to be ready, for the loop to run
// a function, for Run to return after a stop, for a dial, and the deadline
// Dial sets on its connection. It is generous because tests run under -race
// on small, busy machines, where a few seconds' stall happens.
const Timeout = 15 * time.Second

// run is what the package knows of a process it created.
type run struct {
	ready  chan struct{} // closed by OnReady
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's result, once done is closed

	mu       sync.Mutex
	started  bool
	reported bool // Run's error was reported; once is enough
}

var (
	runsMu sync.Mutex
	runs   = map[*workerman.Process]*run{}
)

func lookup(t testing.TB, p *workerman.Process, caller string) *run {
	t.Helper()
	runsMu.Lock()
	r := runs[p]
	runsMu.Unlock()
	if r == nil {
		t.Fatalf("workermantest.%s: the process was not created by workermantest", caller)
	}
	return r
}

// Start creates a Process for workers, runs it, and returns once every
// OnWorkerStart has returned and it accepts connections. The process is
// stopped when the test ends; a Run that returns an error, or does not
// return within Timeout, fails the test.
func Start(t testing.TB, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	return StartWith(t, workerman.ProcessOptions{}, workers...)
}

// StartWith is Start with options: a Logger to check what the process
// logs, or an OnReady of the test's own (it runs before Start returns).
func StartWith(t testing.TB, opts workerman.ProcessOptions, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	p := NewUnstarted(t, opts, workers...)
	Run(t, p)
	return p
}

// NewUnstarted creates a Process without running it. Its listening sockets
// are bound, so clients can connect already: their connections wait in the
// backlog until Run. Call Run to start it; one never run is closed when the
// test ends (by a Run whose context is already done).
func NewUnstarted(t testing.TB, opts workerman.ProcessOptions, workers ...*workerman.Worker) *workerman.Process {
	t.Helper()
	r := &run{ready: make(chan struct{}), done: make(chan struct{})}
	onReady := opts.OnReady
	opts.OnReady = func() {
		if onReady != nil {
			onReady()
		}
		close(r.ready)
	}
	p, err := workerman.NewProcess(opts, workers...)
	if err != nil {
		t.Fatalf("workerman.NewProcess: %v", err)
	}
	runsMu.Lock()
	runs[p] = r
	runsMu.Unlock()
	t.Cleanup(func() {
		Stop(t, p)
		runsMu.Lock()
		delete(runs, p)
		runsMu.Unlock()
	})
	return p
}

// Run runs a process made by NewUnstarted and returns once it is ready, as
// Start does.
func Run(t testing.TB, p *workerman.Process) {
	t.Helper()
	r := lookup(t, p, "Run")
	if !r.start(p, context.Background()) {
		t.Fatalf("workermantest.Run: the process runs already")
	}
	select {
	case <-r.ready:
	case <-r.done:
		r.mu.Lock()
		r.reported = true
		r.mu.Unlock()
		t.Fatalf("Process.Run returned before the process was ready: %v", r.err)
	case <-time.After(Timeout):
		t.Fatalf("the process was not ready within %s", Timeout)
	}
}

// start runs p.Run on its own goroutine unless it was started before.
func (r *run) start(p *workerman.Process, ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return false
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx)
	}()
	return true
}

// Stop stops p through Run's context, so OnWorkerStop and every OnClose
// run, and waits for Run to return (see Wait). The test's cleanup calls
// it; call it earlier to test what a stop does. It may be repeated.
func Stop(t testing.TB, p *workerman.Process) {
	t.Helper()
	r := lookup(t, p, "Stop")
	// A process never run still holds its sockets and loop; a Run that
	// finds its context done releases them.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	r.start(p, done)
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	Wait(t, p)
}

// Wait waits for Run to return after the test stopped p itself (with
// Process.Stop, StopGracefully or StopWhenQuiet). It fails the test when Run
// does not return within Timeout, or returned an error; an error is
// reported once however often Wait and Stop are called.
func Wait(t testing.TB, p *workerman.Process) {
	t.Helper()
	r := lookup(t, p, "Wait")
	select {
	case <-r.done:
	case <-time.After(Timeout):
		t.Fatalf("Process.Run did not return within %s of the stop", Timeout)
	}
	r.mu.Lock()
	report := r.err != nil && !r.reported
	r.reported = true
	r.mu.Unlock()
	if report {
		t.Errorf("Process.Run: %v", r.err)
	}
}

// OnLoop runs fn on loop (a Process's, a Worker's: p.Loop(), w.Loop()) and
// waits for it to return.
func OnLoop(t testing.TB, loop *workerman.EventLoop, fn func()) {
	t.Helper()
	OnLoopAsync(t, loop, func(done func()) {
		fn()
		done()
	})
}

// OnLoopValue runs fn on loop and returns its result: the way to read state
// that belongs to the loop, such as p.Loop().Stats() or
// w.ConnectionCount().
func OnLoopValue[T any](t testing.TB, loop *workerman.EventLoop, fn func() T) T {
	t.Helper()
	var v T
	OnLoop(t, loop, func() { v = fn() })
	return v
}

// OnLoopAsync runs fn on loop and waits until fn, or a callback it started
// (workerman.Async's, a timer's), calls done. What fn and its callbacks
// write before done is visible to the test once OnLoopAsync returns.
func OnLoopAsync(t testing.TB, loop *workerman.EventLoop, fn func(done func())) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	loop.Post(func() { fn(func() { once.Do(func() { close(ch) }) }) })
	select {
	case <-ch:
	case <-time.After(Timeout):
		t.Fatalf("the event loop did not finish a posted function within %s", Timeout)
	}
}

// Dial connects to w's bound address: its Unix socket when it has one,
// for a UDP worker a connected UDP socket (each Write one datagram, each
// Read one answer), else its TCP address (see DialAddr).
func Dial(t testing.TB, w *workerman.Worker) net.Conn {
	t.Helper()
	if p := w.SocketPath(); p != "" {
		return dial(t, "unix", p)
	}
	if w.Transport == "udp" {
		return dial(t, "udp", w.Addr().String())
	}
	return DialAddr(t, w.Addr().String())
}

// DialAddr connects to a TCP address. The connection has a deadline of
// Timeout from now for reads and writes, so a server that does not answer
// fails the test instead of hanging it (set another deadline to wait
// longer, or to see a read time out sooner), and is closed when the test
// ends.
func DialAddr(t testing.TB, addr string) net.Conn {
	t.Helper()
	return dial(t, "tcp", addr)
}

func dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(Timeout))
	return c
}
