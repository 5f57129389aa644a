package netloop

import (
	"bytes"
	"errors"

	"github.com/workermand/workermand/codec"
)

// SendEncoded sends frame, a message already encoded the way this
// connection's codec would encode it (Fanout found another connection with
// the same codec.SharedEncoder key and encoded it there). It is Send
// without the Encode: frame is only read, written to the socket at once
// when nothing is queued ahead of it, and only what the socket does not
// take is copied into the connection's queue, so the one frame serves
// every connection of a broadcast. Off the loop it copies frame and posts.
// Safe from any goroutine.
func (c *Conn) SendEncoded(frame []byte) SendResult {
	if !c.loop.OnLoop() {
		p := bytes.Clone(frame)
		c.loop.Post(func() { c.sendEncoded(p) })
		return Posted
	}
	return c.sendEncoded(frame)
}

func (c *Conn) sendEncoded(frame []byte) SendResult {
	if u := c.udp(); u != nil {
		return u.write(frame)
	}
	if c.status >= StatusClosing {
		return Dropped
	}
	if c.flags&flagPaced == 0 && c.bufferFull() {
		return c.dropFull()
	}
	l := c.loop
	if l.encConn == c {
		// Sent from inside this connection's own Encode (a callback it
		// reached): after what that Encode produces, as WriteRaw does.
		if c.flags&flagCloseQueued != 0 {
			return Dropped
		}
		c.nest()
		l.nested = append(l.nested, frame...)
		return Sent
	}
	if l.corkConn == c && c.out.empty() {
		l.cork = append(l.cork, frame...)
		return c.corked()
	}
	return c.write(frame)
}

// maxShared is how many different encodings of one message a Fanout keeps;
// connections past them are encoded one by one. A worker's connections
// have one or two (websocket with and without compression).
const maxShared = 4

// Fanout sends one message to many connections, encoding it once per
// encoding their codecs share (codec.SharedEncoder) rather than once per
// connection; connections whose codec shares nothing get it through
// SendValue. A Fanout is for one message on one loop, used on that loop:
// make one per message (its frames are its only allocations).
type Fanout struct {
	v      any
	keys   [maxShared]any
	frames [maxShared][]byte
	n      int
}

// NewFanout prepares v ([]byte and string as Send takes them, or a value
// for codec.ValueEncoder) for sending.
func NewFanout(v any) *Fanout { return &Fanout{v: v} }

// Send sends the message to c, as c.SendValue would. Loop-only for the
// sharing; off the loop it is SendValue.
func (f *Fanout) Send(c *Conn) (SendResult, error) {
	se, ok := c.codec.(codec.SharedEncoder)
	if !ok || c.status != StatusEstablished || !c.loop.OnLoop() {
		return c.SendValue(f.v)
	}
	key := se.SharedEncoding(f.v)
	if key == nil {
		return c.sendValue(f.v)
	}
	for i := range f.n {
		if f.keys[i] == key {
			return c.sendEncoded(f.frames[i]), nil
		}
	}
	if f.n == maxShared {
		return c.sendValue(f.v)
	}
	frame, err := encodeShared(c, f.v)
	if err != nil {
		// The codec refused what it said it would share: its own path
		// reports the failure as a send would.
		return c.sendValue(f.v)
	}
	f.keys[f.n], f.frames[f.n] = key, frame
	f.n++
	res := c.sendEncoded(frame)
	if c.flags&(flagNested|flagCloseQueued) != 0 {
		c.afterEncode() // what a codec wrote while encoding, against its word
	}
	return res, nil
}

var errNotShareable = errors.New("netloop: value not encodable by the codec")

// encodeShared encodes v with c's codec into a frame of its own, which
// stays valid for the rest of the broadcast.
func encodeShared(c *Conn, v any) ([]byte, error) {
	l := c.loop
	prev := l.encConn // a codec writing through the Conn here nests (see send)
	l.encConn = c
	defer func() { l.encConn = prev }()
	if ve, ok := c.codec.(codec.ValueEncoder); ok {
		return ve.EncodeValue(nil, v)
	}
	switch p := v.(type) {
	case []byte:
		return c.codec.Encode(nil, p)
	case string:
		return c.codec.Encode(nil, []byte(p))
	}
	return nil, errNotShareable
}
