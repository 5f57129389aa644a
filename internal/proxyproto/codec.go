package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/workermand/workermand/codec"
)

// RemoteAddrSetter is implemented by connections whose reported peer address
// can be replaced (netloop.Conn). It is checked by type assertion so that
// codec.Conn stays unchanged.
type RemoteAddrSetter interface {
	SetRemoteAddr(ap netip.AddrPort)
}

// Wrap returns a protocol that makes connections from the sources in from
// start with a PROXY header (version 1 or 2) before inner's protocol. The
// header is required from those peers: anything else closes the connection
// as malformed. Once it is read, the connection reports the client address
// it carries as its RemoteAddr (when the connection implements
// RemoteAddrSetter) and switches to inner's codec. Connections from other
// peers get inner's codec directly, so their bytes are never read as a PROXY
// header. Wrap returns inner when from is empty.
func Wrap(inner codec.Protocol, from []netip.Prefix) codec.Protocol {
	if len(from) == 0 {
		return inner
	}
	return &protocol{inner: inner, from: from}
}

type protocol struct {
	inner codec.Protocol
	from  []netip.Prefix
}

func (p *protocol) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, pf := range p.from {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

func (p *protocol) NewCodec(c codec.Conn) codec.Codec {
	inner := p.inner.NewCodec(c)
	if !p.trusted(c.RemoteAddr().Addr()) {
		return inner
	}
	// The inner codec is made now so that sends made before the header
	// arrives (a greeting from OnConnect) are encoded by it.
	return &headerCodec{conn: c, inner: inner}
}

// headerCodec reads the PROXY header of one connection, then hands the
// connection to the inner codec.
type headerCodec struct {
	conn  codec.Conn
	inner codec.Codec
}

// Input reports the header's length once it is complete.
func (h *headerCodec) Input(buf []byte) (int, error) {
	n, _, _, err := Parse(buf)
	return n, err
}

// Decode applies the header and switches to the inner codec. It delivers
// nothing.
func (h *headerCodec) Decode(pkt []byte) (codec.Message, error) {
	n, src, ok, err := Parse(pkt)
	if err != nil {
		return codec.Message{}, err
	}
	if n != len(pkt) {
		return codec.Message{}, errors.New("proxyproto: header packet changed between Input and Decode")
	}
	if !ok {
		src = netip.AddrPort{}
	}
	h.done(src)
	return codec.Message{Kind: codec.KindNone}, nil
}

// done applies the client address src (none when zero) and switches the
// connection to the inner codec.
func (h *headerCodec) done(src netip.AddrPort) {
	if src.IsValid() {
		if s, can := h.conn.(RemoteAddrSetter); can {
			s.SetRemoteAddr(src)
		}
	}
	if m, can := h.inner.(codec.Migrator); can {
		// Keep the client address with the codec's state when the
		// connection moves to another process.
		h.conn.SetCodec(&movable{Codec: h.inner, m: m, src: src})
		return
	}
	h.conn.SetCodec(h.inner)
}

// migrateMagic starts the hand-over state of a proxied connection.
const migrateMagic = "PROXY\x00"

// Migrate refuses to move a connection whose header is not read yet.
func (h *headerCodec) Migrate() ([]byte, bool) { return nil, false }

// Resume restores a connection whose header was read in another process:
// its client address, then the inner codec's state.
func (h *headerCodec) Resume(state []byte) error {
	m, can := h.inner.(codec.Migrator)
	if !can {
		return errors.New("proxyproto: the protocol does not support hand-over")
	}
	rest, ok := strings.CutPrefix(string(state), migrateMagic)
	if !ok || len(rest) == 0 || len(rest) < 1+int(rest[0]) {
		return errors.New("proxyproto: hand-over state without a PROXY client address")
	}
	var src netip.AddrPort
	if err := src.UnmarshalBinary([]byte(rest[1 : 1+rest[0]])); err != nil {
		return fmt.Errorf("proxyproto: hand-over state: %w", err)
	}
	if err := m.Resume([]byte(rest[1+rest[0]:])); err != nil {
		return err
	}
	h.done(src)
	return nil
}

// movable is the codec of a connection whose header was read, when the
// inner codec can be handed over to another process: the state it hands
// over carries the client address too.
type movable struct {
	codec.Codec
	m   codec.Migrator
	src netip.AddrPort
}

func (mv *movable) Migrate() ([]byte, bool) {
	st, ok := mv.m.Migrate()
	if !ok {
		return nil, false
	}
	a, _ := mv.src.MarshalBinary()
	out := make([]byte, 0, len(migrateMagic)+1+len(a)+len(st))
	out = append(out, migrateMagic...)
	out = append(out, byte(len(a)))
	out = append(out, a...)
	return append(out, st...), true
}

// Resume is never called: an adopted connection gets a headerCodec.
func (mv *movable) Resume(state []byte) error { return mv.m.Resume(state) }

func (mv *movable) EncodeValue(dst []byte, v any) ([]byte, error) {
	return encodeValue(mv.Codec, dst, v)
}

func (mv *movable) Close() error {
	if cl, ok := mv.Codec.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Encode encodes with the inner codec: sends made before the header is read
// use the worker's protocol.
func (h *headerCodec) Encode(dst, payload []byte) ([]byte, error) {
	return h.inner.Encode(dst, payload)
}

// EncodeValue forwards to the inner codec, or sends a []byte or string
// payload when the inner codec has no structured values (as the loop does
// for such codecs).
func (h *headerCodec) EncodeValue(dst []byte, v any) ([]byte, error) {
	return encodeValue(h.inner, dst, v)
}

func encodeValue(inner codec.Codec, dst []byte, v any) ([]byte, error) {
	if ve, ok := inner.(codec.ValueEncoder); ok {
		return ve.EncodeValue(dst, v)
	}
	switch v := v.(type) {
	case []byte:
		return inner.Encode(dst, v)
	case string:
		return inner.Encode(dst, []byte(v))
	}
	return dst, errors.New("proxyproto: the connection's protocol cannot send structured values")
}

// Close releases the inner codec when the connection closes before its
// header was read.
func (h *headerCodec) Close() error {
	if cl, ok := h.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

var (
	_ codec.ValueEncoder = (*headerCodec)(nil)
	_ io.Closer          = (*headerCodec)(nil)
	_ codec.Migrator     = (*headerCodec)(nil)
	_ codec.ValueEncoder = (*movable)(nil)
	_ io.Closer          = (*movable)(nil)
	_ codec.Migrator     = (*movable)(nil)
)
