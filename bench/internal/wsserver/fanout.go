package wsserver

import (
	"context"

	"github.com/panjf2000/gnet/v2"

	"github.com/workermand/workermand/bench/internal/serve"
)

// gnetFanout is the broadcast peer of the fan-out benchmark: gnet's
// websocket upgrade and framing as in gnetWS, but every data frame a client
// sends is framed once and written to every upgraded connection, the
// sender's included, as a chat room does. Connections are kept in a slice
// (each one's index in its Context), the cheapest set to walk; Write on
// the one loop's goroutine writes at once and copies only what the socket
// does not take.
type gnetFanout struct {
	gnetWS
	members []gnet.Conn
}

// member is an upgraded connection's place in members.
type member struct{ i int }

func (h *gnetFanout) OnClose(c gnet.Conn, _ error) gnet.Action {
	m, ok := c.Context().(*member)
	if !ok {
		return gnet.None
	}
	last := len(h.members) - 1
	h.members[m.i] = h.members[last]
	h.members[m.i].Context().(*member).i = m.i
	h.members[last] = nil
	h.members = h.members[:last]
	return gnet.None
}

func (h *gnetFanout) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil {
		return gnet.Close
	}
	if c.Context() == nil {
		var done bool
		var action gnet.Action
		if buf, done, action = h.upgrade(c, buf); !done {
			return action
		}
		c.SetContext(&member{i: len(h.members)})
		h.members = append(h.members, c)
	}
	used := 0
	action := gnet.None
	for action == gnet.None {
		n, op, payload, ok := parseFrame(buf[used:])
		if n < 0 {
			action = gnet.Close
			break
		}
		if !ok {
			break
		}
		used += n
		switch op {
		case 0x1, 0x2:
			h.out = appendServerFrame(h.out[:0], op, payload)
			for _, m := range h.members {
				_, _ = m.Write(h.out) // a failed write closes that connection
			}
		case 0x9:
			h.out = appendServerFrame(h.out[:0], 0xA, payload)
			_, _ = c.Write(h.out)
		case 0xA:
		case 0x8:
			h.out = appendServerFrame(h.out[:0], 0x8, payload)
			_, _ = c.Write(h.out)
			action = gnet.Close
		default:
			action = gnet.Close
		}
	}
	if _, err := c.Discard(used); err != nil {
		return gnet.Close
	}
	return action
}

// ServeGnetFanout runs the single-loop gnet broadcast server on addr until
// ctx is done.
func ServeGnetFanout(ctx context.Context, addr string, ready func()) error {
	return serve.Gnet(ctx, addr, &gnetFanout{}, ready)
}
