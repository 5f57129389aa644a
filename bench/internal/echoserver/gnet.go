// Package echoserver holds the two reference line-echo servers that
// workermand is compared with: one on gnet v2, one on the standard net package.
package echoserver

import (
	"bytes"
	"context"

	"github.com/panjf2000/gnet/v2"

	"github.com/workermand/workermand/bench/internal/serve"
)

// MaxLine bounds a line's length; a peer that sends a longer one is cut off
// rather than letting its inbound buffer grow without bound.
const MaxLine = 64 << 10

type gnetEcho struct {
	gnet.BuiltinEventEngine
}

// OnTraffic echoes every complete line buffered so far in one Write; a
// trailing partial line stays in gnet's inbound buffer for the next event.
func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil {
		return gnet.Close
	}
	n := bytes.LastIndexByte(buf, '\n') + 1
	if n == 0 {
		if len(buf) > MaxLine {
			return gnet.Close
		}
		return gnet.None
	}
	// Write copies what the socket does not take at once, so buf may be
	// discarded right after.
	if _, err := c.Write(buf[:n]); err != nil {
		return gnet.Close
	}
	if _, err := c.Discard(n); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// ServeGnet runs a single-event-loop gnet echo server on addr (host:port)
// until ctx is done. ready, if not nil, is called once it accepts.
func ServeGnet(ctx context.Context, addr string, ready func()) error {
	return serve.Gnet(ctx, addr, &gnetEcho{}, ready)
}
