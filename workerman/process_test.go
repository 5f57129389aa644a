package workerman_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

func worker(name, listen string) *workerman.Worker {
	w := workerman.NewWorker(listen)
	w.Name = name
	return w
}

type failingHandler struct{}

func (failingHandler) Attach(*workerman.Worker) error { return errors.New("no database") }

func TestNewProcessRejectsBadWorkers(t *testing.T) {
	udp := worker("udp-worker", "http://127.0.0.1:0")
	udp.Transport = "udp"
	quic := worker("quic-worker", "text://127.0.0.1:0")
	quic.Transport = "quic"
	negative := worker("negative-worker", "text://127.0.0.1:0")
	negative.MaxSendBufferSize = -1
	attach := worker("attach-worker", "text://127.0.0.1:0")
	attach.Handler = failingHandler{}
	for _, tc := range []struct {
		w    *workerman.Worker
		want []string
	}{
		{worker("no-port", "text://127.0.0.1"), []string{`"no-port"`, "missing port"}},
		{worker("no-scheme", "127.0.0.1:80"), []string{`"no-scheme"`, "scheme"}},
		{worker("bad-port", "text://127.0.0.1:70000"), []string{`"bad-port"`, "70000"}},
		{worker("host-name", "text://localhost:0"), []string{`"host-name"`, "IP address"}},
		{worker("no-such-protocol", "nope://127.0.0.1:0"), []string{`"no-such-protocol"`, `unknown protocol "nope"`, "text"}},
		{udp, []string{`"udp-worker"`, "http:// cannot run over UDP"}},
		{quic, []string{`"quic-worker"`, `unknown transport "quic"`}},
		{negative, []string{`"negative-worker"`, "negative"}},
		{attach, []string{`"attach-worker"`, "attach handler", "no database"}},
	} {
		t.Run(tc.w.Name, func(t *testing.T) {
			p, err := workerman.NewProcess(workerman.ProcessOptions{}, tc.w)
			if err == nil {
				t.Fatalf("NewProcess succeeded (%v), want an error", p)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
	if _, err := workerman.NewProcess(workerman.ProcessOptions{}); err == nil {
		t.Error("NewProcess with no workers succeeded")
	}
}

func TestNewProcessReportsEveryBadWorker(t *testing.T) {
	good := worker("good", "text://127.0.0.1:0")
	udp := worker("third", "http://127.0.0.1:0")
	udp.Transport = "udp"
	_, err := workerman.NewProcess(workerman.ProcessOptions{},
		worker("first", "text://127.0.0.1"), good, worker("second", "nope://127.0.0.1:0"), udp)
	if err == nil {
		t.Fatal("NewProcess succeeded")
	}
	for _, name := range []string{`"first"`, `"second"`, `"third"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name worker %s", err, name)
		}
	}
	if strings.Contains(err.Error(), `"good"`) {
		t.Errorf("error %q names the good worker", err)
	}
	// Nothing was bound: the good worker runs in a process of its own.
	good.Handler = echoHandler(t)
	workermantest.Start(t, good)
	c := dialWorker(t, good)
	c.write("ok\n")
	c.expectLine("ok")
}

// TestNewProcessListenFailure: a port in use fails NewProcess with the
// worker named, and releases the sockets already bound for the others.
func TestNewProcessListenFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	first := worker("first", "text://127.0.0.1:0")
	clash := worker("clash", "text://"+taken.Addr().String())
	_, err = workerman.NewProcess(workerman.ProcessOptions{}, first, clash)
	if err == nil {
		t.Fatal("NewProcess succeeded on a port in use")
	}
	if !strings.Contains(err.Error(), `"clash"`) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q, want it to name worker clash and the cause", err)
	}
	// The first worker can be used again, in a new process.
	first.Handler = echoHandler(t)
	// Start fails the test if NewProcess refuses the worker again.
	workermantest.Start(t, first)
	c := dialWorker(t, first)
	c.write("ok\n")
	c.expectLine("ok")
}

func TestWorkerBelongsToOneProcess(t *testing.T) {
	w := worker("", "text://127.0.0.1:0")
	workermantest.Start(t, w)
	if w.Name != "none" {
		t.Errorf("an unnamed worker is called %q, want none", w.Name)
	}
	if w.ID() != 0 || w.Count != 1 || w.Transport != "tcp" {
		t.Errorf("ID, Count, Transport = %d, %d, %q; want 0, 1, tcp", w.ID(), w.Count, w.Transport)
	}
	if !w.Addr().Addr().IsLoopback() || w.Addr().Port() == 0 {
		t.Errorf("Addr() = %v, want the bound loopback port", w.Addr())
	}
	_, err := workerman.NewProcess(workerman.ProcessOptions{}, w)
	if err == nil || !strings.Contains(err.Error(), "already belongs to a process") {
		t.Errorf("a worker in two processes: %v", err)
	}
}

// TestProcessStopsOnContextAndStop: Run returns when its context ends and
// when Stop is called, closing connections either way.
func TestProcessStopsOnContextAndStop(t *testing.T) {
	for _, how := range []string{"context", "Stop"} {
		t.Run(how, func(t *testing.T) {
			var log eventLog
			w := infoWorker("text://127.0.0.1:0", &log)
			p := workermantest.Start(t, w)
			c := dialWorker(t, w)
			c.write("hi\n")
			c.expectLine("hi")
			if how == "Stop" {
				p.Stop()
				workermantest.Wait(t, p)
			} else {
				workermantest.Stop(t, p)
			}
			c.expectEOF()
			if ev := log.events(); ev[len(ev)-1] != fmt.Sprintf("close %d user-%d", connectIDs(t, &log)[0], connectIDs(t, &log)[0]) {
				t.Errorf("events %q, want the connection's OnClose last", ev)
			}
			// The port is released.
			ln, err := net.Listen("tcp", w.Addr().String())
			if err != nil {
				t.Errorf("the worker's port is still bound after Run returned: %v", err)
			} else {
				ln.Close()
			}
		})
	}
}

// A reload closes a connection once it has been quiet, but a client that
// connected and has not sent its first request yet is not quiet: its
// process may be descheduled between connect and write. It is answered.
func TestStopWhenQuietWaitsForTheFirstRequest(t *testing.T) {
	w := textWorker("quiet")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	spoke := dialWorker(t, w)
	spoke.write("first\n")
	spoke.expectLine("first")
	silent := dialWorker(t, w)
	waitOnLoop(t, p, "both connections open", func() bool { return w.ConnectionCount() == 2 })

	p.StopWhenQuiet(20*time.Millisecond, waitTimeout)
	// The one that spoke is closed once quiet: the quiet checks have run
	// for longer than the quiet period since then.
	spoke.expectEOF()
	silent.write("late\n")
	silent.expectLine("late")
	silent.Close()
	workermantest.Wait(t, p) // Run returns once the last connection closed
}
