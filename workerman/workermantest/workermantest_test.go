package workermantest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// upperWorker answers each line in upper case and records its callbacks in
// events (loop-only).
func upperWorker(events *[]string) *workerman.Worker {
	w := workerman.NewWorker("text://127.0.0.1:0")
	w.OnWorkerStart = func(*workerman.Worker) { *events = append(*events, "start") }
	w.OnWorkerStop = func(*workerman.Worker) { *events = append(*events, "stop") }
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		*events = append(*events, "message")
		c.Send(bytes.ToUpper(m.Data))
	}
	return w
}

func roundTrip(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	return strings.TrimSuffix(got, "\n")
}

// The steps of the package's example, run.
func TestStartDialOnLoop(t *testing.T) {
	var events []string
	w := upperWorker(&events)
	var atReady []string
	p := workermantest.StartWith(t, workerman.ProcessOptions{OnReady: func() { atReady = append([]string{"ready"}, events...) }}, w)
	// Start returns after OnReady, which runs after OnWorkerStart, so what
	// they wrote is visible here. events itself is read on the loop below:
	// the loop appends to it again, and the race detector does not count
	// the socket as ordering that after a plain read here.
	if got := strings.Join(atReady, " "); got != "ready start" {
		t.Fatalf("when Start returned: %q, want OnReady run, after OnWorkerStart", got)
	}
	if got := roundTrip(t, workermantest.Dial(t, w), "hello"); got != "HELLO" {
		t.Errorf("got %q, want HELLO", got)
	}
	got := workermantest.OnLoopValue(t, p.Loop(), func() string { return strings.Join(events, " ") })
	if got != "start message" {
		t.Errorf("events %q, want start message", got)
	}
}

// Stop runs OnWorkerStop, closes the connections and the listener, and may
// be repeated (the cleanup repeats it).
func TestStop(t *testing.T) {
	var events []string
	w := upperWorker(&events)
	p := workermantest.Start(t, w)
	c := workermantest.Dial(t, w)
	roundTrip(t, c, "x")
	workermantest.Stop(t, p)
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("after Stop the connection read %d bytes, %v; want it closed", n, err)
	}
	if got := strings.Join(events, " "); got != "start message stop" { // Run returned: no race
		t.Errorf("events %q, want start message stop", got)
	}
	ln, err := net.Listen("tcp", w.Addr().String())
	if err != nil {
		t.Fatalf("the port is still bound after Stop: %v", err)
	}
	ln.Close()
	workermantest.Stop(t, p)
}

// Wait follows a stop the test made itself.
func TestWaitAfterProcessStop(t *testing.T) {
	var events []string
	p := workermantest.Start(t, upperWorker(&events))
	p.Stop()
	workermantest.Wait(t, p)
}

// A process made by NewUnstarted is bound: a connection made before Run is
// served once it runs.
func TestNewUnstartedThenRun(t *testing.T) {
	var events []string
	w := upperWorker(&events)
	p := workermantest.NewUnstarted(t, workerman.ProcessOptions{}, w)
	c := workermantest.Dial(t, w)
	if _, err := io.WriteString(c, "early\n"); err != nil {
		t.Fatal(err)
	}
	workermantest.Run(t, p)
	if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != "EARLY\n" {
		t.Errorf("got %q, %v; want EARLY", got, err)
	}
}

// One never run is closed at the end of its test: its port is free again.
func TestUnstartedIsClosedAtCleanup(t *testing.T) {
	var events []string
	w := upperWorker(&events)
	t.Run("never run", func(t *testing.T) {
		workermantest.NewUnstarted(t, workerman.ProcessOptions{}, w)
	})
	ln, err := net.Listen("tcp", w.Addr().String())
	if err != nil {
		t.Fatalf("the port of a process never run is still bound after its test: %v", err)
	}
	ln.Close()
}

// OnLoopAsync waits for the callback that calls done, here Async's.
func TestOnLoopAsync(t *testing.T) {
	var events []string
	p := workermantest.Start(t, upperWorker(&events))
	var got int
	workermantest.OnLoopAsync(t, p.Loop(), func(done func()) {
		workerman.Async(p.Loop(), func() (int, error) { return 42, nil }, func(v int, err error) {
			got = v
			done()
		})
	})
	if got != 42 {
		t.Errorf("Async's result seen after OnLoopAsync: %d, want 42", got)
	}
}

// recorder is a testing.TB that records failures instead of failing, so
// the helpers' own failures can be checked. Run what uses it with
// recorder.do: Fatalf ends the goroutine, as FailNow does.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Cleanup(fn func()) { r.cleanups = append(r.cleanups, fn) }

func (r *recorder) do(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// cleanup runs the registered cleanups, last first, as testing does.
func (r *recorder) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.do(r.cleanups[i])
	}
}

func TestFailures(t *testing.T) {
	r := &recorder{TB: t}
	r.do(func() { workermantest.Start(r) })
	r.cleanup()
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "no workers") {
		t.Errorf("Start without workers reported %q; want one failure saying there are no workers", r.failures)
	}

	r = &recorder{TB: t}
	var events []string
	p := workermantest.Start(t, upperWorker(&events))
	r.do(func() { workermantest.Run(r, p) })
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "runs already") {
		t.Errorf("Run of a process running already reported %q", r.failures)
	}

	r = &recorder{TB: t}
	foreign, err := workerman.NewProcess(workerman.ProcessOptions{}, upperWorker(&events))
	if err != nil {
		t.Fatal(err)
	}
	foreign.Stop()
	if err := foreign.Run(context.Background()); err != nil { // releases its sockets
		t.Fatal(err)
	}
	r.do(func() { workermantest.Stop(r, foreign) })
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], "not created by workermantest") {
		t.Errorf("Stop of a process from workerman.NewProcess reported %q", r.failures)
	}
}
