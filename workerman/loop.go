package workerman

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/workermand/workermand/internal/netloop"
)

// EventLoop is the process's event loop.
type EventLoop struct {
	l     *netloop.Loop
	timer Timer
}

func newEventLoop(l *netloop.Loop) *EventLoop {
	e := &EventLoop{l: l}
	e.timer.l = l
	return e
}

// Post runs fn on the loop at its next turn. Safe from any goroutine.
func (e *EventLoop) Post(fn func()) { e.l.Post(fn) }

// OnLoop reports whether the caller is on the loop goroutine. Safe from any
// goroutine.
func (e *EventLoop) OnLoop() bool { return e.l.OnLoop() }

// Timer is the loop's timer set.
func (e *EventLoop) Timer() *Timer { return &e.timer }

// Logger is the process logger.
func (e *EventLoop) Logger() *zap.Logger { return e.l.Logger() }

// Stats returns the process counters. Loop-only.
func (e *EventLoop) Stats() Stats {
	// The public type has the internal one's fields, in the same order: a
	// counter added there and not here fails to compile.
	s := Stats(e.l.Stats())
	s.OpenFiles, s.FDLimit = openFiles(), fdLimit()
	return s
}

// TimerID names a timer; IDs are positive and unique within the process.
type TimerID uint64

// Timer schedules callbacks on the loop: Workerman's Timer::add/del/delAll.
// Timers belong to the process that adds them; add them in OnWorkerStart
// for process-wide jobs and in OnConnect for per-connection ones. Its methods
// are loop-only: from another goroutine, wrap the call in EventLoop.Post.
type Timer struct{ l *netloop.Loop }

// Add runs fn every interval until Del, as Workerman's Timer::add with
// its default persistent = true. A timer that fell behind (the loop was
// busy) fires once, not once per missed tick. Loop-only.
func (t *Timer) Add(interval time.Duration, fn func()) TimerID {
	t.mustOnLoop("Add")
	return TimerID(t.l.AddTimer(interval, true, fn))
}

// AddOnce runs fn once, after delay: Workerman's Timer::add with
// persistent = false. Loop-only.
func (t *Timer) AddOnce(delay time.Duration, fn func()) TimerID {
	t.mustOnLoop("AddOnce")
	return TimerID(t.l.AddTimer(delay, false, fn))
}

// Del cancels a timer and reports whether it was pending. A timer may cancel
// itself from its own callback. Loop-only.
func (t *Timer) Del(id TimerID) bool {
	t.mustOnLoop("Del")
	return t.l.DelTimer(netloop.TimerID(id))
}

// DelAll cancels every timer of the process. Loop-only.
func (t *Timer) DelAll() {
	t.mustOnLoop("DelAll")
	t.l.DelAllTimers()
}

// mustOnLoop turns a data race into an immediate, explained failure.
func (t *Timer) mustOnLoop(method string) {
	if !t.l.OnLoop() {
		panic(fmt.Sprintf("workerman: Timer.%s called off the loop goroutine; wrap it in EventLoop.Post", method))
	}
}

// Async runs work on its own goroutine and then done with its result on the
// loop, so blocking calls (a database, Redis, an HTTP request) never stall
// the loop. A panic in work is returned to done as an error.
func Async[T any](loop *EventLoop, work func() (T, error), done func(T, error)) {
	go func() {
		var (
			v   T
			err error
		)
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("workerman: async work panicked: %v", r)
				}
			}()
			v, err = work()
		}()
		loop.Post(func() { done(v, err) })
	}()
}
