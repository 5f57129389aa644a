//go:build linux

package netloop

import (
	"sync/atomic"
	"testing"
	"time"
)

// After a burst of connections opening and closing, once none has for a
// quiet spell, the loop gives the free memory back, once per burst; a
// handful of connections releases nothing.
func TestReleaseAfterConnectionBurst(t *testing.T) {
	after, quiet, release := churnReleaseAfter, churnReleaseQuiet, releaseMemory
	var released atomic.Int32
	churnReleaseAfter, churnReleaseQuiet, releaseMemory = 6, 100*time.Millisecond, func() { released.Add(1) }
	t.Cleanup(func() { churnReleaseAfter, churnReleaseQuiet, releaseMemory = after, quiet, release })

	tl, _, addr := startLoop(t, Config{}, "text", echoHandler(), ListenerConfig{})
	var opened uint64
	connect := func() {
		c := dial(t, addr)
		c.roundTrip("hi")
		c.Close()
		opened++
		tl.waitStats("the connection closed", func(s Stats) bool { return s.Accepted == opened && s.Connections == 0 })
	}
	connect()
	connect() // two opened, two closed: 4 of 6
	time.Sleep(3 * churnReleaseQuiet)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times after 4 opens and closes, fewer than churnReleaseAfter", n)
	}
	connect()
	waitFor(t, "a release after the sixth", func() bool { return released.Load() == 1 })
	time.Sleep(3 * churnReleaseQuiet)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times for one burst", n)
	}
}
