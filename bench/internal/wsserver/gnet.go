package wsserver

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"

	"github.com/panjf2000/gnet/v2"

	"github.com/workermand/workermand/bench/internal/serve"
)

// The gnet server is the smallest websocket echo that is correct for this
// benchmark: it answers the upgrade, then echoes every final data frame
// (text or binary) unmasked with its opcode, answers ping with pong and
// close with close. Fragmented messages and anything malformed close the
// connection. All bytes wait in gnet's own inbound buffer, so an idle
// connection costs gnet's conn and one state word, nothing else.

const maxHead = 8 << 10

type gnetWS struct {
	gnet.BuiltinEventEngine
	out []byte // the one loop's scratch for replies
}

// upgraded marks a connection whose handshake is done (its Context).
type upgraded struct{}

func (h *gnetWS) OnTraffic(c gnet.Conn) gnet.Action {
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
	}
	out := h.out[:0]
	used := 0
	action := gnet.None
	for {
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
			out = appendServerFrame(out, op, payload)
		case 0x9: // ping
			out = appendServerFrame(out, 0xA, payload)
		case 0xA: // unsolicited pong: ignored
		case 0x8:
			out = appendServerFrame(out, 0x8, payload)
			action = gnet.Close
		default: // continuation frames and reserved opcodes are not served
			action = gnet.Close
		}
		if action == gnet.Close {
			break
		}
	}
	h.out = out
	if len(out) > 0 {
		// Write copies what the socket does not take at once.
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	if _, err := c.Discard(used); err != nil {
		return gnet.Close
	}
	return action
}

// upgrade answers the opening handshake at the head of buf, once it is
// complete, and returns what follows it. done is false while the head is
// incomplete (action None) or when the connection must close.
func (h *gnetWS) upgrade(c gnet.Conn, buf []byte) (rest []byte, done bool, action gnet.Action) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxHead {
			return nil, false, gnet.Close
		}
		return nil, false, gnet.None
	}
	key := headerValue(buf[:end], "sec-websocket-key")
	if key == nil {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return nil, false, gnet.Close
	}
	sum := sha1.Sum(append(key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"...))
	resp := append(h.out[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = base64.StdEncoding.AppendEncode(resp, sum[:])
	resp = append(resp, "\r\n\r\n"...)
	h.out = resp
	if _, err := c.Write(resp); err != nil {
		return nil, false, gnet.Close
	}
	c.SetContext(upgraded{})
	if _, err := c.Discard(end + 4); err != nil {
		return nil, false, gnet.Close
	}
	rest, err := c.Peek(-1)
	if err != nil {
		return nil, false, gnet.Close
	}
	return rest, true, gnet.None
}

// parseFrame unmasks, in place, the first complete client frame of b.
// It returns the bytes it spans (0 with ok false when incomplete, -1 when
// the frame is not acceptable: unmasked, not final, or too large).
func parseFrame(b []byte) (n int, op byte, payload []byte, ok bool) {
	if len(b) < 2 {
		return 0, 0, nil, false
	}
	if b[0]&0x80 == 0 || b[0]&0x70 != 0 || b[1]&0x80 == 0 {
		return -1, 0, nil, false
	}
	size, hdr := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, 0, nil, false
		}
		size, hdr = uint64(b[2])<<8|uint64(b[3]), 4
	case 127:
		if len(b) < 10 {
			return 0, 0, nil, false
		}
		size = 0
		for _, x := range b[2:10] {
			size = size<<8 | uint64(x)
		}
		hdr = 10
	}
	if size > MaxMessage {
		return -1, 0, nil, false
	}
	total := hdr + 4 + int(size)
	if len(b) < total {
		return 0, 0, nil, false
	}
	key := b[hdr : hdr+4]
	payload = b[hdr+4 : total]
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	return total, b[0] & 0x0f, payload, true
}

func appendServerFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, payload...)
}

// headerValue returns the trimmed value of the named header in head (name
// in lower case), or nil.
func headerValue(head []byte, name string) []byte {
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.ToLower(bytes.TrimSpace(k))) == name {
			return bytes.Clone(bytes.TrimSpace(v))
		}
	}
	return nil
}

// ServeGnet runs the single-loop gnet websocket echo on addr until ctx is
// done. ready, if not nil, is called once it accepts.
func ServeGnet(ctx context.Context, addr string, ready func()) error {
	return serve.Gnet(ctx, addr, &gnetWS{}, ready)
}
