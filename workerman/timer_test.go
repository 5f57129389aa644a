package workerman_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// passTime waits until p's loop has run a timer of d: everything due before
// it has had its chance to run.
func passTime(t *testing.T, p *workerman.Process, d time.Duration) {
	t.Helper()
	passed := make(chan struct{})
	workermantest.OnLoopValue(t, p.Loop(), func() workerman.TimerID {
		return p.Loop().Timer().AddOnce(d, func() { close(passed) })
	})
	select {
	case <-passed:
	case <-time.After(d + waitTimeout):
		t.Fatalf("a %s timer did not fire", d)
	}
}

func TestTimerAddDelDelAll(t *testing.T) {
	var log eventLog
	type ids struct {
		once, repeat, cancelled, far1, far2 workerman.TimerID
		delCancelled, delAgain, delUnknown  bool
	}
	idc := make(chan ids, 1)
	w := textWorker("timers")
	w.OnWorkerStart = func(w *workerman.Worker) {
		tm := w.Timer()
		var id ids
		id.once = tm.AddOnce(10*time.Millisecond, func() { log.add("once") })
		n := 0
		id.repeat = tm.Add(5*time.Millisecond, func() {
			n++
			log.add("repeat %d", n)
			if n == 3 {
				log.add("repeat deletes itself: %v", tm.Del(id.repeat))
			}
		})
		id.cancelled = tm.AddOnce(time.Millisecond, func() { log.add("cancelled timer fired") })
		id.delCancelled = tm.Del(id.cancelled)
		id.delAgain = tm.Del(id.cancelled)
		id.delUnknown = tm.Del(1 << 40)
		id.far1 = tm.AddOnce(time.Hour, func() { log.add("far 1 fired") })
		id.far2 = tm.Add(time.Hour, func() { log.add("far 2 fired") })
		tm.AddOnce(0, func() { log.add("zero") })
		idc <- id
	}
	p := workermantest.Start(t, w)
	id := <-idc
	all := []workerman.TimerID{id.once, id.repeat, id.cancelled, id.far1, id.far2}
	seen := map[workerman.TimerID]bool{}
	for _, x := range all {
		if x <= 0 || seen[x] {
			t.Errorf("timer ids %v: want positive and distinct", all)
			break
		}
		seen[x] = true
	}
	if !id.delCancelled || id.delAgain || id.delUnknown {
		t.Errorf("Del of a pending timer, of the same again, of an unknown id = %v, %v, %v; want true, false, false",
			id.delCancelled, id.delAgain, id.delUnknown)
	}

	waitFor(t, "the repeating timer to delete itself", func() bool { return log.index("repeat deletes itself: true") >= 0 })
	passTime(t, p, 50*time.Millisecond) // room for a fourth repeat, if it were still armed
	got := log.events()
	for _, want := range []string{"once", "repeat 1", "repeat 2", "repeat 3", "zero"} {
		if n := log.count(want); n != 1 {
			t.Errorf("%q happened %d times, want once; events %q", want, n, got)
		}
	}
	if len(got) != 6 {
		t.Errorf("events %q, want once, zero, three repeats and the self-delete, nothing else", got)
	}
	if log.index("zero") > log.index("repeat 1") {
		t.Errorf("the 0-interval timer fired after a 5ms one: %q", got)
	}

	type after struct {
		before, after int
		delFar        bool
	}
	res := workermantest.OnLoopValue(t, p.Loop(), func() after {
		var a after
		a.before = p.Loop().Stats().Timers
		w.Timer().DelAll()
		a.after = p.Loop().Stats().Timers
		a.delFar = w.Timer().Del(id.far1)
		return a
	})
	if res.before != 2 || res.after != 0 || res.delFar {
		t.Errorf("pending timers before DelAll %d (want 2), after %d (want 0); Del after DelAll = %v (want false)", res.before, res.after, res.delFar)
	}
}

func TestTimerOffTheLoopPanics(t *testing.T) {
	w := textWorker("timers")
	p := workermantest.Start(t, w)
	for name, call := range map[string]func(){
		"Add":     func() { w.Timer().Add(time.Millisecond, func() {}) },
		"AddOnce": func() { w.Timer().AddOnce(time.Millisecond, func() {}) },
		"Del":     func() { w.Timer().Del(1) },
		"DelAll":  func() { p.Loop().Timer().DelAll() },
	} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			call()
			return "no panic"
		}()
		if !strings.Contains(msg, "Timer."+name+" called off the loop") || !strings.Contains(msg, "EventLoop.Post") {
			t.Errorf("Timer.%s off the loop: panic %q, want one that names the method and EventLoop.Post", name, msg)
		}
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() int { return p.Loop().Stats().Timers }); n != 0 {
		t.Errorf("%d timers pending after the refused Add, want 0", n)
	}
}

func TestAsyncRunsWorkOffTheLoopAndDoneOnIt(t *testing.T) {
	w := textWorker("echo")
	w.Handler = echoHandler(t)
	p := workermantest.Start(t, w)
	loop := p.Loop()

	type report struct {
		workOnLoop, doneOnLoop bool
		v                      int
		err                    error
	}
	results := make(chan report, 3)
	release := make(chan struct{})
	workermantest.OnLoop(t, p.Loop(), func() {
		var workOnLoop bool
		workerman.Async(loop, func() (int, error) {
			workOnLoop = loop.OnLoop()
			<-release // blocks this goroutine, not the loop
			return 42, nil
		}, func(v int, err error) {
			results <- report{workOnLoop, loop.OnLoop(), v, err}
		})
		workerman.Async(loop, func() (string, error) {
			return "", errors.New("lookup failed")
		}, func(v string, err error) {
			results <- report{false, loop.OnLoop(), len(v), err}
		})
		workerman.Async(loop, func() (*int, error) {
			panic("work exploded")
		}, func(v *int, err error) {
			results <- report{false, loop.OnLoop(), 0, err}
		})
	})
	recv := func() report {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(waitTimeout):
			t.Fatal("Async's done did not run")
			panic("unreachable")
		}
	}
	// The error and the panic come back while the first work is blocked,
	// and the loop keeps serving meanwhile.
	for range 2 {
		r := recv()
		if !r.doneOnLoop {
			t.Error("done ran off the loop")
		}
		switch {
		case r.err != nil && r.err.Error() == "lookup failed":
		case r.err != nil && strings.Contains(r.err.Error(), "panicked") && strings.Contains(r.err.Error(), "work exploded"):
		default:
			t.Errorf("done got error %v, want the work's error or its panic", r.err)
		}
	}
	c := dialWorker(t, w)
	c.write("still serving\n")
	c.expectLine("still serving")

	close(release)
	r := recv()
	if r.workOnLoop || !r.doneOnLoop || r.v != 42 || r.err != nil {
		t.Errorf("work on loop %v, done on loop %v, value %d, err %v; want false, true, 42, nil", r.workOnLoop, r.doneOnLoop, r.v, r.err)
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return loop.Stats().Exceptions }); n != 0 {
		t.Errorf("Stats().Exceptions = %d: a panic in Async's work is an error for done, not an exception", n)
	}
}
