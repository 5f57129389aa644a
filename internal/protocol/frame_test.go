package protocol_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/protocol"
)

// hdr is a frame header announcing a total length of n, written by hand so
// the tables do not depend on the codec's Encode.
func hdr(n uint32) string {
	return string(binary.BigEndian.AppendUint32(nil, n))
}

// fr is the frame of payload p.
func fr(p string) string { return hdr(uint32(len(p)+4)) + p }

// frameCases are also the seeds of FuzzFrame.
var frameCases = []framingCase{
	{name: "empty payload", stream: "\x00\x00\x00\x04", want: []string{""}},
	{name: "one byte", stream: "\x00\x00\x00\x05a", want: []string{"a"}},
	{name: "payload with newlines and NULs", stream: fr("a\r\n\x00b\n"), want: []string{"a\r\n\x00b\n"}},
	{name: "coalesced", stream: fr("one") + fr("") + fr("three"), want: []string{"one", "", "three"}},
	{name: "partial header waits", stream: "\x00\x00\x00", rest: "\x00\x00\x00"},
	{name: "partial body waits", stream: hdr(8) + "ab", rest: hdr(8) + "ab"},
	{name: "complete then partial", stream: fr("x") + hdr(6) + "y", want: []string{"x"}, rest: hdr(6) + "y"},
	{name: "length 0", stream: hdr(0), wantErr: protocol.ErrShortFrame},
	{name: "length 1", stream: hdr(1) + "abc", wantErr: protocol.ErrShortFrame},
	{name: "length 2", stream: hdr(2), wantErr: protocol.ErrShortFrame},
	{name: "length 3", stream: hdr(3) + "\x00", wantErr: protocol.ErrShortFrame},
	{name: "frames before a short one delivered", stream: fr("ok") + hdr(3), want: []string{"ok"}, wantErr: protocol.ErrShortFrame},
	{name: "frame of exactly max_package_size", stream: fr("abcd"), maxPkg: 8, want: []string{"abcd"}},
	{name: "frame above max_package_size", stream: fr("abcde"), maxPkg: 8, wantErr: codec.ErrPackageTooLarge},
	// The header alone is enough to refuse: the loop must not buffer the body.
	{name: "oversized header refused before the body", stream: hdr(9), maxPkg: 8, wantErr: codec.ErrPackageTooLarge},
	{name: "length 0xFFFFFFFF", stream: hdr(0xFFFFFFFF), wantErr: codec.ErrPackageTooLarge},
	{name: "frames before an oversized one delivered", stream: fr("a") + fr("bcdef"), maxPkg: 8,
		want: []string{"a"}, wantErr: codec.ErrPackageTooLarge},
}

func TestFrameFraming(t *testing.T) {
	runFramingCases(t, protocol.Frame, frameCases)
}

func TestFrameInput(t *testing.T) {
	c := protocol.Frame.NewCodec(nil)
	for _, tc := range []struct {
		buf  string
		want int
	}{
		{"", 0},
		{"\x00", 0},
		{"\x00\x00\x00", 0},
		{hdr(4), 4},
		{hdr(5) + "a", 5},
		{hdr(5) + "abc", 5},           // only the first packet
		{hdr(16), 16},                 // longer than the buffer: the loop waits for 16 bytes
		{hdr(0x01020304), 0x01020304}, // big-endian
	} {
		n, err := c.Input([]byte(tc.buf))
		if n != tc.want || err != nil {
			t.Errorf("Input(% x) = %d, %v; want %d, nil", tc.buf, n, err, tc.want)
		}
	}
}

func TestFrameShortLengthIsError(t *testing.T) {
	c := protocol.Frame.NewCodec(nil)
	for n := range uint32(4) {
		_, err := c.Input([]byte(hdr(n) + "body"))
		if !errors.Is(err, protocol.ErrShortFrame) {
			t.Errorf("length %d: err = %v, want ErrShortFrame", n, err)
			continue
		}
		if want := fmt.Sprintf("length %d", n); !strings.Contains(err.Error(), want) {
			t.Errorf("length %d: error %q does not mention %q", n, err, want)
		}
	}
}

func TestFrameDecode(t *testing.T) {
	c := protocol.Frame.NewCodec(nil)
	for _, p := range []string{"", "a", "a\r\n", strings.Repeat("z", 300)} {
		msg, err := c.Decode([]byte(fr(p)))
		if err != nil || string(msg.Data) != p || msg.Kind != codec.KindData {
			t.Errorf("Decode(frame of %d bytes) = {%d bytes, kind %d}, %v", len(p), len(msg.Data), msg.Kind, err)
		}
	}
}

func TestFrameEncode(t *testing.T) {
	c := protocol.Frame.NewCodec(nil)
	for _, tc := range []struct{ payload, want string }{
		{"", "\x00\x00\x00\x04"},
		{"a", "\x00\x00\x00\x05a"},
		{strings.Repeat("x", 252), "\x00\x00\x01\x00" + strings.Repeat("x", 252)},
		{strings.Repeat("y", 65532), "\x00\x01\x00\x00" + strings.Repeat("y", 65532)},
	} {
		got, err := c.Encode([]byte("prefix|"), []byte(tc.payload))
		if err != nil || string(got) != "prefix|"+tc.want {
			t.Errorf("Encode(%d bytes) = % x…, %v; want % x…", len(tc.payload), head(got, 12), err, head([]byte("prefix|"+tc.want), 12))
		}
	}
}

func head(b []byte, n int) []byte { return b[:min(n, len(b))] }

func TestFrameRoundTrip(t *testing.T) {
	c := protocol.Frame.NewCodec(nil)
	// Boundary sizes where the length's next byte starts to be used.
	var payloads []string
	for _, n := range []int{0, 1, 251, 252, 253, 65531, 65532, 65533, 1 << 20} {
		payloads = append(payloads, strings.Repeat(string(rune('a'+len(payloads))), n))
	}
	payloads = append(payloads, "\x00\x00\x00\x00", "\n\r\n")
	var stream []byte
	for _, p := range payloads {
		var err error
		if stream, err = c.Encode(stream, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for mode, chunks := range map[string][][]byte{
		"whole":   {stream},
		"header":  {stream[:2], stream[2:6], stream[6:]},
		"uneven":  {stream[:1000], stream[1000:70000], stream[70000:]},
		"tailcut": {stream[:len(stream)-1], stream[len(stream)-1:]},
	} {
		f := frameChunks(c, 0, chunks...)
		if f.err != nil || !equalMsgs(f.msgs, payloads) || len(f.buf) != 0 {
			t.Errorf("%s: err=%v, got %d messages, want %d (left %d bytes)", mode, f.err, len(f.msgs), len(payloads), len(f.buf))
		}
	}
}
