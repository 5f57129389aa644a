package netloop

// AcceptPending accepts, up to limit, the connections already waiting in
// the listening socket's backlog (for a UDP socket: reads its queued
// datagrams). Call it right before Close on a socket that other sockets
// share by SO_REUSEPORT: the kernel routed those connections to this
// socket, and closing it resets them instead of passing them to the
// others. What arrives between the last accept and the close is still
// lost, a window of a few microseconds. Loop-only.
func (ln *Listener) AcceptPending(limit int) {
	if ln.closed || ln.paused {
		return
	}
	for n := 0; n < limit; {
		before := ln.accepted
		ln.accept()
		got := int(ln.accepted - before)
		// accept returns after a full batch or at EAGAIN: less than a
		// batch means the backlog is empty. A UDP socket counts nothing
		// here; its read drains the queue in one call.
		if ln.udp != nil || got < ln.loop.cfg.AcceptBatch {
			return
		}
		n += got
	}
}
