package echoserver

import (
	"context"

	"github.com/panjf2000/gnet/v2"

	"github.com/workermand/workermand/bench/internal/serve"
)

// gnetUDPEcho answers every datagram with itself: gnet's UDP has no
// framing, so this is the raw datagram echo workermand's udp:// echo worker
// serves.
type gnetUDPEcho struct {
	gnet.BuiltinEventEngine
}

func (h *gnetUDPEcho) OnTraffic(c gnet.Conn) gnet.Action {
	// The datagram sits in gnet's read buffer only for this call, and
	// Write on a UDP conn is one sendto to its sender, so no copy is kept.
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
}

// ServeGnetUDP runs the datagram echo on a single gnet loop bound to addr
// until ctx is done.
func ServeGnetUDP(ctx context.Context, addr string, ready func()) error {
	return serve.GnetUDP(ctx, addr, &gnetUDPEcho{}, ready)
}
