package httpproto

import (
	"math/bits"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Request bodies larger than keptBufferCap are read into buffers taken from
// a free list shared by every connection of the process, and given back once
// the request is answered: an idle keep-alive connection keeps no large
// buffer.
//
// Reuse is what bounds the memory. A large buffer that is merely dropped is
// reused only after the next garbage collection, which the pacer starts
// once about as much again has been allocated: each body in a row would
// cost its size again. From the free list the next body reuses the same
// memory. (A sync.Pool would not do: a buffer put in one P's private slot
// is invisible to a Get from another P, and the loop's thread changes P.)
// Buffers unused for largeIdle are dropped and the memory handed back to
// the kernel, so that a burst of uploads does not leave the process large.
//
// Buffers are sized once: a Content-Length body gets a buffer of its size
// class, and a chunked body, whose size is unknown, grows in few large
// steps (x4 from 256 KiB, and to max_package_size once past half of it).
// Growing by doubling would leave a trail of smaller buffers costing as
// much as the last one.

const (
	// largeStep is the factor by which a chunked body's buffer grows.
	largeStep = 4
	// largeIdle is how long a free large buffer is kept for reuse.
	largeIdle = 5 * time.Second
)

type freeBuf struct {
	b     []byte
	since time.Time
}

var large struct {
	mu       sync.Mutex
	free     []freeBuf // most recently freed last
	sweeping bool      // the sweeper goroutine runs
}

// largeClass is the capacity of the buffer for n bytes: the power of two
// at or above n, but never above max_package_size, the largest body.
func largeClass(n, maxPkg int) int {
	c := 1 << bits.Len(uint(n-1))
	if c > maxPkg {
		c = max(maxPkg, n)
	}
	return c
}

// getLarge returns an empty buffer with room for n bytes: the most recently
// freed one of its class, or else one of the largest class (any body fits),
// or a new one.
func getLarge(n, maxPkg int) []byte {
	class := largeClass(n, maxPkg)
	large.mu.Lock()
	pick := -1
	for i := len(large.free) - 1; i >= 0; i-- {
		c := cap(large.free[i].b)
		if c == class {
			pick = i
			break
		}
		if c == maxPkg && c >= n && pick < 0 {
			pick = i
		}
	}
	if pick >= 0 {
		b := large.free[pick].b
		large.free = slices.Delete(large.free, pick, pick+1)
		large.mu.Unlock()
		return b[:0]
	}
	large.mu.Unlock()
	return make([]byte, 0, class)
}

// putLarge gives b back for reuse. Nothing may use b afterwards.
func putLarge(b []byte) {
	if !recycleBodies {
		return
	}
	large.mu.Lock()
	large.free = append(large.free, freeBuf{b: b[:0], since: time.Now()})
	if !large.sweeping {
		large.sweeping = true
		go sweepLarge()
	}
	large.mu.Unlock()
}

// sweepLarge drops the buffers unused for largeIdle, until none is left.
// Dropped memory would return to the kernel only after a collection that
// an idle process may not run for minutes: FreeOSMemory runs it now.
func sweepLarge() {
	t := time.NewTicker(largeIdle / 4)
	defer t.Stop()
	for now := range t.C {
		large.mu.Lock()
		kept := large.free[:0]
		for _, f := range large.free {
			if now.Sub(f.since) < largeIdle {
				kept = append(kept, f)
			}
		}
		dropped := len(large.free) > len(kept)
		clear(large.free[len(kept):])
		large.free = kept
		done := len(kept) == 0
		if done {
			large.sweeping = false
		}
		large.mu.Unlock()
		if dropped {
			debug.FreeOSMemory()
		}
		if done {
			return
		}
	}
}

// reserveBody returns an empty body buffer with room for n bytes.
func (c *conn) reserveBody(n int) []byte {
	if n <= keptBufferCap {
		if cap(c.body) < n {
			return make([]byte, 0, n)
		}
		return c.body[:0]
	}
	c.large = true
	return getLarge(n, c.c.MaxPackageSize())
}

// appendBody appends a piece of a chunked body, growing its buffer in
// large steps.
func (c *conn) appendBody(p []byte, maxPkg int) {
	need := len(c.body) + len(p)
	if need > cap(c.body) && need > keptBufferCap {
		nb := getLarge(grownBodySize(cap(c.body), need, maxPkg), maxPkg)
		nb = append(nb, c.body...)
		if c.large {
			putLarge(c.body)
		}
		c.body, c.large = nb, true
	}
	c.body = append(c.body, p...)
}

// grownBodySize is the size of the buffer a chunked body of need bytes
// moves to from one of capacity have.
func grownBodySize(have, need, maxPkg int) int {
	size := max(need, largeStep*have)
	if largeClass(size, maxPkg) > maxPkg/2 {
		// A step above half the limit goes to the limit: one just below it
		// followed by one of the limit would cost almost twice the limit
		// (8 + 10 MiB was seen).
		size = max(maxPkg, need)
	}
	return size
}

// releaseBody gives a large body buffer back once no one uses it: its
// request was answered, refused, or never delivered.
func (c *conn) releaseBody() {
	switch {
	case c.large:
		putLarge(c.body)
		c.body, c.large = nil, false
	case cap(c.body) > keptBufferCap:
		c.body = nil
	}
}

// dropBody forgets the body without recycling it: a handler may still be
// reading it (the connection closed with its request in flight).
func (c *conn) dropBody() {
	c.body, c.large = nil, false
}
