package netloop

import (
	"bytes"
	"runtime"
	"strconv"
)

// GoroutineID is the runtime's number of the goroutine running Run, the
// one goroutine dumps print ("goroutine 7 [running]:"), so that a dump of
// a process can show its loop first; 0 when Run is not in progress. Safe
// from any goroutine.
func (l *Loop) GoroutineID() uint64 { return l.goid.Load() }

// goroutineID is the calling goroutine's number. The runtime gives it out
// only in a stack trace, so it is read from the header of a one-goroutine
// trace: once per Run, never on a hot path (owner, currentG, is what
// OnLoop compares).
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := bytes.Fields(buf[:n])
	if len(f) < 2 || string(f[0]) != "goroutine" {
		return 0
	}
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}
