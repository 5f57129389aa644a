package workerman

import (
	"cmp"
	"iter"
	"maps"
	"slices"
	"sync"

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
// its own SendValue. The connections get it in the order they came (by
// ID), whatever order conns yields them in. A connection whose send
// buffer is full misses it (send_fail, OnError with SendFail), as with
// Send; one that a callback closes meanwhile is skipped.
//
// Loop-only: the connections must belong to the caller's loop (one of
// another loop gets v posted, as SendValue off the loop does). v must not
// change while it may be queued.
func Broadcast(conns iter.Seq[*Connection], v any) int {
	p := broadcastOrder.Get().(*[]orderedConn)
	list := (*p)[:0]
	for c := range conns {
		list = append(list, orderedConn{c.nc.ID(), c})
	}
	sortByID(list)
	f := netloop.NewFanout(v)
	n := 0
	for _, e := range list {
		if e.c.udpOffLoop() {
			continue
		}
		if r, _ := f.Send(&e.c.nc); r == netloop.Sent || r == netloop.Queued {
			n++
		}
	}
	clear(list)
	*p = list[:0]
	if cap(list) <= keptBroadcastOrder {
		broadcastOrder.Put(p)
	}
	return n
}

// sortByID puts connections in the order they came: their sockets,
// descriptors and our structures were made in that order, so walking them
// so keeps the kernel's and our memory accesses near each other, where a
// map's order jumps across them (a broadcast to 10,000 cost 15 % more
// server CPU that way). Already sorted input costs one pass.
func sortByID(list []orderedConn) {
	slices.SortFunc(list, func(a, b orderedConn) int { return cmp.Compare(a.id, b.id) })
}

// inOrder yields w's live connections by ID (Worker.Connections).
func (w *Worker) inOrder(yield func(*Connection) bool) {
	p := broadcastOrder.Get().(*[]orderedConn)
	list := (*p)[:0]
	for id, c := range w.conns {
		list = append(list, orderedConn{id, c})
	}
	sortByID(list)
	defer func() {
		clear(list)
		*p = list[:0]
		if cap(list) <= keptBroadcastOrder {
			broadcastOrder.Put(p)
		}
	}()
	for _, e := range list {
		if w.conns[e.id] != e.c {
			continue // closed (or gone) during the iteration
		}
		if !yield(e.c) {
			return
		}
	}
}

// orderedConn is a connection with its id, the order it came in.
type orderedConn struct {
	id uint64
	c  *Connection
}

// broadcastOrder holds the lists Broadcast and Connections sort; a pool
// rather than one list per loop, since a callback may broadcast, or
// iterate, in the middle of another.
var broadcastOrder = sync.Pool{New: func() any { return new([]orderedConn) }}

// keptBroadcastOrder bounds the lists kept for the next broadcast (64k
// connections, 1 MiB).
const keptBroadcastOrder = 64 << 10

// deliverAll sends data to this process's connections of the worker (all)
// or of set, each through its protocol (see message).
func (w *Worker) deliverAll(all bool, set map[*Connection]struct{}, data []byte) {
	if all {
		Broadcast(w.Connections(), w.message(data))
		return
	}
	Broadcast(maps.Keys(set), w.message(data))
}
