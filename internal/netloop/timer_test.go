//go:build linux

package netloop

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestTimerHeapOrder checks the heap itself: whatever the insertion order and
// whichever timers are removed from the middle, timers come out by deadline,
// ties by id (creation order).
func TestTimerHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var h timerHeap
		var all []*timer
		for id := 1; id <= 200; id++ {
			tm := &timer{when: int64(r.IntN(20)), id: TimerID(id)}
			all = append(all, tm)
		}
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for _, tm := range all {
			h.push(tm)
		}
		// Remove a third of them from wherever they sit.
		removed := map[TimerID]bool{}
		for _, tm := range all[:len(all)/3] {
			if tm.index < 0 || h[tm.index] != tm {
				t.Fatalf("round %d: timer %d has index %d, not its heap position", round, tm.id, tm.index)
			}
			h.remove(tm.index)
			removed[tm.id] = true
		}
		var got []*timer
		for len(h) > 0 {
			got = append(got, h.remove(0))
		}
		if len(got) != len(all)-len(removed) {
			t.Fatalf("round %d: popped %d timers, want %d", round, len(got), len(all)-len(removed))
		}
		for i, tm := range got {
			if removed[tm.id] {
				t.Fatalf("round %d: removed timer %d came out of the heap", round, tm.id)
			}
			if tm.index != -1 {
				t.Fatalf("round %d: popped timer %d keeps index %d", round, tm.id, tm.index)
			}
			if i > 0 {
				p := got[i-1]
				if p.when > tm.when || p.when == tm.when && p.id > tm.id {
					t.Fatalf("round %d: (when %d, id %d) came out before (when %d, id %d)", round, p.when, p.id, tm.when, tm.id)
				}
			}
		}
	}
}

// TestTimersFireInDeadlineOrder: timers created in scrambled order fire by
// deadline, timers with the same deadline fire in creation order, each
// one-shot timer fires exactly once, and every callback runs on the loop.
func TestTimersFireInDeadlineOrder(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()

	var fired []string
	offLoop := 0
	done := make(chan []string, 1)
	tl.do(func() {
		record := func(name string) func() {
			return func() {
				if !l.OnLoop() {
					offLoop++
				}
				fired = append(fired, name)
			}
		}
		// Deadlines 10 ms apart, created out of order.
		for _, ms := range []int{50, 10, 40, 0, 30, 20} {
			l.AddTimer(time.Duration(ms)*time.Millisecond, false, record("d"+itoa(ms)))
		}
		// Five timers that share one deadline (60 ms), created in order
		// t0..t4 and pushed into the heap in reverse.
		var tie []*timer
		for i := range 5 {
			id := l.AddTimer(60*time.Millisecond, false, record("t"+itoa(i)))
			tie = append(tie, l.timerByID[id])
		}
		when := tie[0].when
		for _, tm := range tie {
			l.timers.remove(tm.index)
		}
		for _, tm := range slices.Backward(tie) {
			tm.when = when
			l.timers.push(tm)
		}
		// The last one reports; 100 ms leaves room for stray extra fires.
		l.AddTimer(100*time.Millisecond, false, func() { done <- slices.Clone(fired) })
	})
	got := recv(t, "the reporting timer", done)
	want := []string{"d0", "d10", "d20", "d30", "d40", "d50", "t0", "t1", "t2", "t3", "t4"}
	if !slices.Equal(got, want) {
		t.Fatalf("timers fired as %v, want %v", got, want)
	}
	tl.do(func() {
		if offLoop != 0 {
			t.Errorf("%d timer callbacks saw OnLoop() == false", offLoop)
		}
		if n := l.Stats().Timers; n != 0 {
			t.Errorf("Stats().Timers = %d after every one-shot timer fired, want 0", n)
		}
	})
}

// TestTimerRepeatAndDelete: a repeating timer keeps firing; it can cancel
// itself from its callback; another timer's callback can cancel it, even
// when both are due in the same turn; a fired one-shot timer is no longer
// pending.
func TestTimerRepeatAndDelete(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()

	type result struct {
		selfFires, selfDel          int
		selfDelResult               bool
		victimFires                 int
		sameTurnVictimFires         int
		oneShotFires                int
		oneShotDelInside, delResult bool
		pending                     int
	}
	done := make(chan result, 1)
	tl.do(func() {
		var r result
		// A repeating 5 ms timer that deletes itself on its 3rd tick.
		var selfID TimerID
		selfID = l.AddTimer(5*time.Millisecond, true, func() {
			r.selfFires++
			if r.selfFires == 3 {
				r.selfDelResult = l.DelTimer(selfID)
				r.selfDel++
			}
		})
		// A repeating 5 ms victim, deleted by another timer once it has
		// fired three times. Conditions, not elapsed times, drive this
		// test: a loaded machine may hold the loop for 100 ms and more.
		victim := l.AddTimer(5*time.Millisecond, true, func() { r.victimFires++ })
		// A one-shot timer deleting itself: it is not pending any more.
		var oneShot TimerID
		oneShot = l.AddTimer(time.Millisecond, false, func() {
			r.oneShotFires++
			r.oneShotDelInside = l.DelTimer(oneShot)
		})
		victimAtDelete := -1
		var checker TimerID
		checker = l.AddTimer(10*time.Millisecond, true, func() {
			switch {
			case victimAtDelete < 0 && r.victimFires >= 3:
				victimAtDelete = r.victimFires
				l.DelTimer(victim)
			case victimAtDelete >= 0 && r.selfDel == 1 && r.oneShotFires == 1:
				// One more turn after the deletion: the victim must not
				// have fired since.
				l.DelTimer(checker)
				if r.victimFires != victimAtDelete {
					t.Errorf("deleted victim fired %d more times", r.victimFires-victimAtDelete)
				}
				r.delResult = l.DelTimer(victim)
				r.pending = l.Stats().Timers
				done <- r
			}
		})
	})
	r := recv(t, "the report timer", done)
	if r.selfFires != 3 || r.selfDel != 1 || !r.selfDelResult {
		t.Errorf("self-deleting repeating timer fired %d times (DelTimer inside returned %v), want 3 and true", r.selfFires, r.selfDelResult)
	}
	if r.victimFires < 3 {
		t.Errorf("repeating 5 ms timer fired %d times, want at least 3", r.victimFires)
	}
	if r.oneShotFires != 1 || r.oneShotDelInside {
		t.Errorf("one-shot timer fired %d times, DelTimer inside returned %v; want 1 and false", r.oneShotFires, r.oneShotDelInside)
	}
	if r.delResult {
		t.Errorf("DelTimer of an already deleted timer returned true")
	}
	if r.pending != 0 {
		t.Errorf("Stats().Timers = %d, want 0", r.pending)
	}

	// Same turn: the loop is held busy until both timers are due, so they
	// fire in one pass; the earlier one deletes the later one, which must
	// not fire.
	sameTurn := make(chan int, 1)
	tl.do(func() {
		fires := 0
		var later TimerID
		l.AddTimer(5*time.Millisecond, false, func() { l.DelTimer(later) })
		later = l.AddTimer(10*time.Millisecond, false, func() { fires++ })
		l.AddTimer(60*time.Millisecond, false, func() { sameTurn <- fires })
		for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
		}
	})
	if n := recv(t, "the same-turn report", sameTurn); n != 0 {
		t.Errorf("timer deleted by an earlier timer of the same turn fired %d times", n)
	}
}

// TestDelAllTimers: DelAllTimers from a task cancels every timer; from a
// timer callback it also cancels timers due in the same turn and the
// repeating timer that called it.
func TestDelAllTimers(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()

	fires := 0
	tl.do(func() {
		for i := range 10 {
			l.AddTimer(time.Duration(i+5)*time.Millisecond, i%2 == 0, func() { fires++ })
		}
		if n := l.Stats().Timers; n != 10 {
			t.Errorf("Stats().Timers = %d with 10 timers, want 10", n)
		}
		l.DelAllTimers()
		if n := l.Stats().Timers; n != 0 {
			t.Errorf("Stats().Timers = %d after DelAllTimers, want 0", n)
		}
	})

	report := make(chan [2]int, 1)
	tl.do(func() {
		callerFires := 0
		l.AddTimer(5*time.Millisecond, true, func() {
			callerFires++
			l.DelAllTimers()
		})
		for i := range 5 {
			l.AddTimer(time.Duration(6+i)*time.Millisecond, true, func() { fires++ })
		}
		// Hold the loop so that every timer is due in one pass.
		for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		}
		// Report from a timer added by a task of the next turn, after the
		// DelAllTimers above has run (a timer added now would be cancelled).
		l.Post(func() {
			l.AddTimer(50*time.Millisecond, false, func() { report <- [2]int{callerFires, fires} })
		})
	})
	got := recv(t, "the report timer", report)
	if got[0] != 1 || got[1] != 0 {
		t.Errorf("after DelAllTimers: caller fired %d times (want 1), cancelled timers fired %d times (want 0)", got[0], got[1])
	}
	if n := tl.stats().Timers; n != 0 {
		t.Errorf("Stats().Timers = %d, want 0", n)
	}
}

// TestTimerWakesIdleLoop: with no I/O and no tasks, the loop must wake up for
// the next deadline by itself (epoll_wait's timeout follows the earliest
// timer), neither early nor much late; a timer added while the loop sleeps
// toward a later deadline is honoured.
func TestTimerWakesIdleLoop(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	tl.run()

	for _, tc := range []struct {
		name   string
		before time.Duration // a timer added in an earlier turn, 0 for none
	}{
		{"only timer", 0},
		{"earlier than a pending 10s timer", 10 * time.Second},
	} {
		if tc.before > 0 {
			tl.do(func() { l.AddTimer(tc.before, false, func() { t.Errorf("%v timer fired", tc.before) }) })
		}
		fired := make(chan time.Duration, 1)
		var start time.Time
		tl.do(func() {
			start = time.Now()
			l.AddTimer(20*time.Millisecond, false, func() {
				if !l.OnLoop() {
					t.Errorf("timer callback ran off the loop")
				}
				fired <- time.Since(start)
			})
		})
		d := recv(t, "a 20 ms timer on an idle loop", fired)
		if d < 20*time.Millisecond || d > time.Second {
			t.Errorf("%s: 20 ms timer fired after %v", tc.name, d)
		}
		tl.do(l.DelAllTimers)
	}
}

// TestRepeatingZeroIntervalTimer: "an interval of 0 fires on the next loop
// turn", so a repeating 0 timer fires once per turn; it must not keep the
// loop from I/O, tasks or Stop.
func TestRepeatingZeroIntervalTimer(t *testing.T) {
	tl, _, addr := startLoop(t, Config{}, "text", echoHandler(), ListenerConfig{})
	l := tl.loop
	fires := 0
	var id TimerID
	tl.do(func() { id = l.AddTimer(0, true, func() { fires++ }) })
	c := dial(t, addr)
	for i := range 20 {
		c.roundTrip("tick " + itoa(i))
	}
	var n1, n2 int
	tl.do(func() { n1 = fires })
	waitFor(t, "the 0-interval timer to keep firing", func() bool {
		tl.do(func() { n2 = fires })
		return n2 > n1+1
	})
	tl.do(func() {
		if !l.DelTimer(id) {
			t.Errorf("DelTimer of the repeating timer returned false")
		}
	})
}
