package workerman

import (
	"iter"
	"maps"

	"github.com/workermand/workermand/internal/netloop"
)

// Broadcast sends v to every connection conns yields, as each one's
// SendValue would ([]byte and string as Send sends them), and returns how
// many took it (Sent or Queued). It is Workerman's
//
//	foreach ($worker->connections as $c) $c->send($msg);
//
// as one call, workerman.Broadcast(w.Connections(), msg), and costs less:
// the message is encoded once for all the connections whose protocol
// frames it alike (websocket connections without permessage-deflate, or
// with it and server_no_context_takeover, which compress each message
// alone), and that one frame is written to each socket; only what a socket
// does not take at once is copied into that connection's send buffer, so
// no connection costs an allocation. A websocket connection with a
// compression context of its own, and any other protocol, gets v through
// its own SendValue. A connection whose send buffer is full misses it
// (send_fail, OnError with SendFail), as with Send.
//
// Loop-only: the connections must belong to the caller's loop (one of
// another loop gets v posted, as SendValue off the loop does). v must not
// change while it may be queued.
func Broadcast(conns iter.Seq[*Connection], v any) int {
	f := netloop.NewFanout(v)
	n := 0
	for c := range conns {
		if c.udpOffLoop() {
			continue
		}
		if r, _ := f.Send(&c.nc); r == netloop.Sent || r == netloop.Queued {
			n++
		}
	}
	return n
}

// deliverAll sends data to this process's connections of the worker (all)
// or of set, each through its protocol (see message).
func (w *Worker) deliverAll(all bool, set map[*Connection]struct{}, data []byte) {
	if all {
		Broadcast(w.Connections(), w.message(data))
		return
	}
	Broadcast(maps.Keys(set), w.message(data))
}
