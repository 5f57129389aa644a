package wsproto

import (
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/wsframe"
	"github.com/workermand/workermand/websocket"
)

// The codec's hot paths, driven as the loop drives them (Input, Decode,
// then Encode of the answer), so a change to how frames are handled shows
// in ns/op and allocs/op. The socket is a sinkConn: no system calls.

// sinkConn drops what the codec writes itself (pongs, the 101), so that a
// buffer growing over the run does not weigh in the figures.
type sinkConn struct{ fuzzConn }

func (*sinkConn) WriteRaw([]byte) bool { return true }

// openServer is a server codec past its handshake; deflate asks for
// permessage-deflate.
func openServer(b *testing.B, deflate bool) codec.Codec {
	b.Helper()
	upgrade := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if deflate {
		upgrade = fuzzUpgrade
	}
	cd := Default.NewCodec(&sinkConn{})
	if _, err := drive(cd, []byte(upgrade)); err != nil {
		b.Fatal(err)
	}
	return cd
}

// openClient is a client codec past its handshake.
func openClient(b *testing.B) codec.Codec {
	b.Helper()
	return openClientOn(b, &sinkConn{})
}

// roundTrip frames, decodes and answers each frame of wire, restoring the
// bytes first since Decode unmasks in place.
func roundTrip(b *testing.B, cd codec.Codec, wire []byte) {
	buf := make([]byte, len(wire))
	var dst []byte
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, wire)
		for in := buf; len(in) > 0; {
			n, err := cd.Input(in)
			if err != nil || n == 0 {
				b.Fatalf("Input: %d, %v", n, err)
			}
			m, err := cd.Decode(in[:n])
			if err != nil {
				b.Fatal(err)
			}
			if m.Kind != codec.KindNone {
				if dst, err = cd.Encode(dst[:0], m.Data); err != nil {
					b.Fatal(err)
				}
			}
			in = in[n:]
		}
	}
}

var benchMask = [4]byte{0x11, 0x22, 0x33, 0x44}

func BenchmarkServerEcho64(b *testing.B) {
	roundTrip(b, openServer(b, false), wsframe.AppendFrame(nil, true, 0, wsframe.Text, make([]byte, 64), &benchMask))
}

func BenchmarkServerEcho4K(b *testing.B) {
	roundTrip(b, openServer(b, false), wsframe.AppendFrame(nil, true, 0, wsframe.Binary, make([]byte, 4096), &benchMask))
}

// BenchmarkServerFragments is a text message in three fragments with a
// ping between them: reassembly, UTF-8 across pieces and a pong.
func BenchmarkServerFragments(b *testing.B) {
	var w []byte
	w = wsframe.AppendFrame(w, false, 0, wsframe.Text, []byte("κόσμε, the first piece of "), &benchMask)
	w = wsframe.AppendFrame(w, true, 0, wsframe.Ping, []byte("p"), &benchMask)
	w = wsframe.AppendFrame(w, false, 0, wsframe.Continuation, []byte("a message in \xce"), &benchMask)
	w = wsframe.AppendFrame(w, true, 0, wsframe.Continuation, []byte("\xba three"), &benchMask)
	roundTrip(b, openServer(b, false), w)
}

// BenchmarkServerDeflateEcho is a compressed 1 KiB text message inflated
// and answered compressed (no context takeover, pooled compressors).
func BenchmarkServerDeflateEcho(b *testing.B) {
	cd := openServer(b, true)
	msg := make([]byte, 1024)
	for i := range msg {
		msg[i] = 'a' + byte(i%7)
	}
	// The server's own compressed answer is a valid compressed frame to
	// send it back: unmasked, so mask it as a client must.
	enc, err := cd.Encode(nil, msg)
	if err != nil {
		b.Fatal(err)
	}
	var h wsframe.Header
	n, perr := wsframe.ParseHeader(enc, &h, wsframe.Limits{AllowedRSV: wsframe.RSV1})
	if perr != nil || n == 0 || h.RSV != wsframe.RSV1 {
		b.Fatalf("compressed answer: %d %+v %v", n, h, perr)
	}
	roundTrip(b, cd, wsframe.AppendFrame(nil, true, h.RSV, wsframe.Text, enc[n:], &benchMask))
}

func BenchmarkClientEcho64(b *testing.B) {
	roundTrip(b, openClient(b), wsframe.AppendFrame(nil, true, 0, wsframe.Text, make([]byte, 64), nil))
}

// BenchmarkServerEncodeValue is SendValue's path for a binary message.
func BenchmarkServerEncodeValue(b *testing.B) {
	ve := openServer(b, false).(codec.ValueEncoder)
	var v any = websocket.Binary(make([]byte, 64))
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = ve.EncodeValue(dst[:0], v)
	}
}
