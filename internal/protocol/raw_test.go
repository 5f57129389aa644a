package protocol_test

import (
	"slices"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// The "tcp" scheme has no framing: whatever one read brings is one message,
// byte for byte.
func TestRawFraming(t *testing.T) {
	c := protocol.Raw.NewCodec(nil)
	stream := []byte("GET / HTTP/1.0\r\n\r\n\x00\xff")

	msgs, err := frameAll(c, stream, 0)
	if err != nil || !equalMsgs(msgs, []string{string(stream)}) {
		t.Errorf("one read: %q, %v; want the whole read as one message", msgs, err)
	}

	f := frameChunks(c, 0, feedings(stream)["bytewise"]...)
	if f.err != nil || len(f.msgs) != len(stream) {
		t.Fatalf("byte reads: %d messages, %v; want %d", len(f.msgs), f.err, len(stream))
	}
	for i, m := range f.msgs {
		if len(m) != 1 || m[0] != stream[i] {
			t.Fatalf("byte read %d: %q, want %q", i, m, stream[i:i+1])
		}
	}
}

func TestRawInputDecodeEncode(t *testing.T) {
	c := protocol.Raw.NewCodec(nil)
	if n, err := c.Input(nil); n != 0 || err != nil {
		t.Errorf("Input(empty) = %d, %v; want 0 (nothing to deliver)", n, err)
	}
	for _, s := range []string{"x", "a\r\n", "\x00\x00\x00\x04"} {
		if n, err := c.Input([]byte(s)); n != len(s) || err != nil {
			t.Errorf("Input(%q) = %d, %v; want %d", s, n, err, len(s))
		}
		msg, err := c.Decode([]byte(s))
		if err != nil || string(msg.Data) != s || msg.Kind != codec.KindData {
			t.Errorf("Decode(%q) = {%q, kind %d}, %v; want it unchanged", s, msg.Data, msg.Kind, err)
		}
		out, err := c.Encode([]byte("p|"), []byte(s))
		if err != nil || string(out) != "p|"+s {
			t.Errorf("Encode(%q) = %q, %v; want it appended unchanged", s, out, err)
		}
	}
}

// limitConn is a codec.Conn with only a package limit.
type limitConn struct {
	codec.Conn
	max int
}

func (c limitConn) MaxPackageSize() int { return c.max }

// A raw read larger than max_package_size comes out in pieces of at most the
// limit instead of closing the connection: Workerman applies no package limit
// to connections without a protocol.
func TestRawSplitsChunksAboveMaxPackageSize(t *testing.T) {
	c := protocol.Raw.NewCodec(limitConn{max: 4})
	stream := []byte("0123456789")
	var got []string
	for off := 0; off < len(stream); {
		n, err := c.Input(stream[off:])
		if err != nil || n <= 0 || n > 4 {
			t.Fatalf("Input(%q) = %d, %v; want 1..4, nil", stream[off:], n, err)
		}
		msg, _ := c.Decode(stream[off : off+n])
		got = append(got, string(msg.Data))
		off += n
	}
	if want := []string{"0123", "4567", "89"}; !slices.Equal(got, want) {
		t.Fatalf("pieces = %q, want %q", got, want)
	}
}
