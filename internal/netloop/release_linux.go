package netloop

import "time"

// Variables for tests.
var (
	// churnReleaseAfter is how many connections opened or closed make
	// giving memory back worth a collection. Setting up a connection
	// leaves garbage (a websocket's handshake request and answer, the
	// accept's address) and a closed one leaves its whole state; with
	// GOGC's 100 % the heap may then hold twice what the connections keep
	// until the next collection, which on an idle server comes only from
	// the runtime's two-minute timer, and the runtime keeps the pages it
	// freed for reuse. 100,000 idle websockets over 6 processes kept
	// 897 bytes each resident that way, 705 with the release
	// (bench/cmd/scalebench).
	churnReleaseAfter = 1024
	// churnReleaseQuiet is how long no connection may have opened or
	// closed before the burst counts as over: under a steady stream of
	// connections the garbage is reused and nothing is released.
	churnReleaseQuiet = time.Second
)

// noteChurn counts a connection opened or closed and, after
// churnReleaseAfter of them, waits for their burst to end and gives the
// free memory back to the kernel (releaseMemory, off the loop): idle
// connections then cost what they keep. A steady trickle of connections
// costs one timer re-armed each quiet period, nothing per connection.
func (l *Loop) noteChurn() {
	l.churn++
	if l.churn >= churnReleaseAfter && l.churnTimer == 0 {
		l.armChurnRelease()
	}
}

func (l *Loop) armChurnRelease() {
	mark := l.churn
	l.churnTimer = l.addInternalTimer(churnReleaseQuiet, func() {
		l.churnTimer = 0
		if l.churn != mark {
			l.armChurnRelease()
			return
		}
		l.churn = 0
		releaseMemory()
	})
}
