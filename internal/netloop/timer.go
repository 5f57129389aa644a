package netloop

import "time"

// TimerID names a timer of one loop. IDs are positive and never reused by the
// loop that issued them.
type TimerID uint64

type timer struct {
	fn       func()
	when     int64 // loop clock, nanoseconds
	interval int64
	id       TimerID
	index    int // position in the heap; -1 when not queued
	repeat   bool
	deleted  bool
	internal bool // the loop's own (accept resume, connect timeout): kept by DelAllTimers
}

// timerHeap is a binary min-heap on (when, id); ties fire in creation order.
type timerHeap []*timer

func (h timerHeap) less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].id < h[j].id
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(t *timer) {
	t.index = len(*h)
	*h = append(*h, t)
	h.up(t.index)
}

func (h *timerHeap) remove(i int) *timer {
	old := *h
	last := len(old) - 1
	t := old[i]
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
	return t
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}

// AddTimer runs fn after interval, and every interval after that when repeat
// is set. An interval of 0 fires on the next loop turn. Loop-only (or before
// Run).
func (l *Loop) AddTimer(interval time.Duration, repeat bool, fn func()) TimerID {
	return l.addTimer(interval, repeat, false, fn)
}

// addInternalTimer adds a one-shot timer of the loop's own machinery, which
// DelAllTimers (the user's Timer::delAll) must not cancel: a listener paused
// on EMFILE would never resume, a connect would lose its timeout.
func (l *Loop) addInternalTimer(interval time.Duration, fn func()) TimerID {
	return l.addTimer(interval, false, true, fn)
}

// AddSystemTimer is AddTimer for the framework's own periodic work (idle
// sweeps, request limits): DelAllTimers, the user's Timer::delAll, leaves it
// alone. Loop-only (or before Run).
func (l *Loop) AddSystemTimer(interval time.Duration, repeat bool, fn func()) TimerID {
	return l.addTimer(interval, repeat, true, fn)
}

func (l *Loop) addTimer(interval time.Duration, repeat, internal bool, fn func()) TimerID {
	if interval < 0 {
		interval = 0
	}
	l.lastTimerID++
	t := &timer{fn: fn, when: l.now() + int64(interval), interval: int64(interval), id: l.lastTimerID, repeat: repeat, internal: internal}
	l.timers.push(t)
	l.timerByID[t.id] = t
	return t.id
}

// DelTimer cancels a timer and reports whether it was pending. A timer may
// delete itself from its own callback. Loop-only.
func (l *Loop) DelTimer(id TimerID) bool {
	t, ok := l.timerByID[id]
	if !ok {
		return false
	}
	delete(l.timerByID, id)
	t.deleted = true
	if t.index >= 0 {
		l.timers.remove(t.index)
	}
	return true
}

// DelAllTimers cancels every timer added with AddTimer; the loop's own
// timers (accept resume, connect timeouts) carry on. Loop-only.
func (l *Loop) DelAllTimers() {
	for id, t := range l.timerByID {
		if t.internal {
			continue
		}
		delete(l.timerByID, id)
		t.deleted = true
		if t.index >= 0 {
			l.timers.remove(t.index)
		}
	}
}

// runTimers fires every timer that is due. A repeating timer is re-armed at
// its deadline plus its interval, but never in the past, so a loop that was
// busy does not fire a burst of catch-up ticks.
func (l *Loop) runTimers() {
	if len(l.timers) == 0 {
		return
	}
	now := l.now()
	for len(l.timers) > 0 && l.timers[0].when <= now {
		t := l.timers.remove(0)
		if !t.repeat {
			delete(l.timerByID, t.id)
		}
		l.callTimer(t)
		if t.repeat && !t.deleted {
			// Re-arm strictly after now: a deadline of now or earlier would
			// fire again in this same pass, forever for a 0 interval.
			t.when += t.interval
			if t.when <= now {
				t.when = now + max(t.interval, 1)
			}
			l.timers.push(t)
		}
	}
}

func (l *Loop) callTimer(t *timer) {
	defer l.recoverPanic(nil, "timer")
	t.fn()
}

// timeoutMillis is how long epoll_wait may sleep: until the next timer, or
// forever when there is none.
func (l *Loop) timeoutMillis() int {
	if len(l.timers) == 0 {
		return -1
	}
	d := l.timers[0].when - l.now()
	if d <= 0 {
		return 0
	}
	ms := (d + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	if ms > 1<<30 {
		ms = 1 << 30
	}
	return int(ms)
}
