package workerman_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// observed returns process options whose logger records errors.
func observed() (workerman.ProcessOptions, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.ErrorLevel)
	return workerman.ProcessOptions{Logger: zap.New(core)}, logs
}

// panicLogged reports whether a "callback panicked" error carrying value
// was logged.
func panicLogged(logs *observer.ObservedLogs, value string) bool {
	for _, e := range logs.FilterMessage("callback panicked").All() {
		if fmt.Sprint(e.ContextMap()["panic"]) == value {
			return true
		}
	}
	return false
}

func TestPanicInOnMessageClosesOnlyThatConnection(t *testing.T) {
	var log eventLog
	w := textWorker("fragile")
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		if string(m.Data) == "boom" {
			panic("boom")
		}
		c.Send(m.Data)
	}
	w.OnClose = func(c *workerman.Connection) { log.add("close %d", c.ID()) }
	opts, logs := observed()
	p := workermantest.StartWith(t, opts, w)

	victim, bystander := dialWorker(t, w), dialWorker(t, w)
	victim.write("fine\n")
	victim.expectLine("fine")
	bystander.write("fine\n")
	bystander.expectLine("fine")

	victim.write("boom\n")
	victim.expectEOF()
	waitFor(t, "the OnClose of the connection whose OnMessage panicked", func() bool { return len(log.events()) == 1 })

	bystander.write("still here\n")
	bystander.expectLine("still here")
	late := dialWorker(t, w)
	late.write("new\n")
	late.expectLine("new")

	if n := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().Exceptions }); n != 1 {
		t.Errorf("Stats().Exceptions = %d, want 1", n)
	}
	if !panicLogged(logs, "boom") {
		t.Errorf("the panic was not logged; logs: %v", logs.All())
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() int { return w.ConnectionCount() }); n != 2 {
		t.Errorf("ConnectionCount() = %d, want the 2 other connections", n)
	}
}

func TestPanicInOnWorkerStartIsCountedAndTheWorkerServes(t *testing.T) {
	var log eventLog
	bad := textWorker("bad-start")
	bad.Handler = echoHandler(t)
	bad.OnWorkerStart = func(*workerman.Worker) { panic("start exploded") }
	good := textWorker("good-start")
	good.Handler = echoHandler(t)
	good.OnWorkerStart = func(*workerman.Worker) { log.add("good started") }
	opts, logs := observed()
	p := workermantest.StartWith(t, opts, bad, good)

	if n := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().Exceptions }); n != 1 {
		t.Errorf("Stats().Exceptions = %d, want 1", n)
	}
	if !panicLogged(logs, "start exploded") {
		t.Errorf("the panic was not logged; logs: %v", logs.All())
	}
	if log.count("good started") != 1 {
		t.Error("a panic in one worker's OnWorkerStart kept the next worker's from running")
	}
	for _, w := range []*workerman.Worker{bad, good} {
		c := dialWorker(t, w)
		c.write("served\n")
		c.expectLine("served")
	}
}

// TestPanicsInOtherCallbacks: a panic in OnConnect drops that connection;
// one in OnClose or a timer is counted and nothing else happens.
func TestPanicsInOtherCallbacks(t *testing.T) {
	w := textWorker("fragile")
	w.Handler = echoHandler(t)
	connects := 0
	w.OnConnect = func(c *workerman.Connection) {
		if connects++; connects == 1 {
			panic("connect exploded")
		}
	}
	w.OnClose = func(*workerman.Connection) { panic("close exploded") }
	ticks := make(chan int, 8)
	w.OnWorkerStart = func(w *workerman.Worker) {
		n := 0
		var id workerman.TimerID
		id = w.Timer().Add(time.Millisecond, func() {
			n++
			ticks <- n
			if n == 3 {
				w.Timer().Del(id)
			}
			panic("tick exploded")
		})
	}
	opts, logs := observed()
	p := workermantest.StartWith(t, opts, w)

	first := dialWorker(t, w) // its OnConnect panics
	first.expectEOF()
	second := dialWorker(t, w)
	second.write("ok\n")
	second.expectLine("ok")
	for want := 1; want <= 3; want++ {
		select {
		case n := <-ticks:
			if n != want {
				t.Fatalf("tick %d, want %d", n, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("a repeating timer that panicked stopped after %d ticks", want-1)
		}
	}
	waitFor(t, "every panic to be logged", func() bool {
		return panicLogged(logs, "connect exploded") && panicLogged(logs, "close exploded") && panicLogged(logs, "tick exploded")
	})
	// OnConnect and OnClose of the first connection, three ticks.
	if n := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().Exceptions }); n != 5 {
		var msgs []string
		for _, e := range logs.All() {
			msgs = append(msgs, fmt.Sprint(e.ContextMap()["panic"]))
		}
		t.Errorf("Stats().Exceptions = %d, want 5; panics logged: %s", n, strings.Join(msgs, ", "))
	}
}
