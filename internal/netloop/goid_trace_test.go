//go:build linux

package netloop

import "testing"

// GoroutineID names the goroutine that runs the loop while it runs, and
// nothing before or after: what a stack dump puts first.
func TestGoroutineIDIsTheLoops(t *testing.T) {
	tl := newTestLoop(t, Config{})
	l := tl.loop
	if id := l.GoroutineID(); id != 0 {
		t.Errorf("before Run: GoroutineID() = %d, want 0", id)
	}
	mine := goroutineID()
	if mine == 0 {
		t.Fatal("goroutineID() = 0 on the test's goroutine")
	}
	tl.run()
	var onLoop uint64
	tl.do(func() { onLoop = goroutineID() })
	if got := l.GoroutineID(); got != onLoop || got == 0 || got == mine {
		t.Errorf("while running: GoroutineID() = %d; the loop's goroutine is %d, the test's %d", got, onLoop, mine)
	}
	if err := tl.stopAndWait(); err != nil {
		t.Fatal(err)
	}
	if id := l.GoroutineID(); id != 0 {
		t.Errorf("after Run: GoroutineID() = %d, want 0", id)
	}
}
