package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/workermand/workermand/websocket"
)

var serverLim = Limits{RequireMask: true}

func mustCode(t *testing.T, err error, code websocket.CloseCode) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want close code %d", err, code)
	}
}

// rawHeader builds a header with the given 7-bit length field and extended
// length bytes, bypassing AppendFrame's minimal encoding.
func rawHeader(b0, b1 byte, ext ...byte) []byte { return append([]byte{b0, b1}, ext...) }

func TestLengthBoundaries(t *testing.T) {
	for _, n := range []int64{0, 1, 125, 126, 127, 65535, 65536, 1 << 32, 1<<63 - 1} {
		var buf []byte
		var wantHL int
		switch {
		case n <= 125:
			buf, wantHL = rawHeader(0x82, byte(n)), 2
		case n <= 0xFFFF:
			buf, wantHL = binary.BigEndian.AppendUint16(rawHeader(0x82, 126), uint16(n)), 4
		default:
			buf, wantHL = binary.BigEndian.AppendUint64(rawHeader(0x82, 127), uint64(n)), 10
		}
		var h Header
		got, err := ParseHeader(buf, &h, Limits{})
		if err != nil || got != wantHL || h.Length != n || h.HeaderLen != wantHL || h.Op != Binary || !h.Fin {
			t.Errorf("length %d: (%d, %v), %+v", n, got, err, h)
		}
		if n <= 70000 {
			enc := AppendFrame(nil, true, 0, Binary, make([]byte, n), nil)
			if !bytes.Equal(enc[:wantHL], buf) || len(enc) != wantHL+int(n) {
				t.Errorf("length %d: AppendFrame header % x, want % x", n, enc[:wantHL], buf)
			}
		}
	}
	// The top bit of a 64-bit length is refused from the first length byte on.
	top := binary.BigEndian.AppendUint64(rawHeader(0x82, 127), 1<<63)
	for k := 3; k <= len(top); k++ {
		var h Header
		_, err := ParseHeader(top[:k], &h, Limits{})
		mustCode(t, err, 1002)
	}
}

func TestViolations(t *testing.T) {
	m := []byte{1, 2, 3, 4}
	cases := []struct {
		name string
		buf  []byte
		lim  Limits
		code websocket.CloseCode
	}{
		{"reserved opcode 3", rawHeader(0x83, 0x80), serverLim, 1002},
		{"reserved opcode 7", rawHeader(0x87, 0x80), serverLim, 1002},
		{"reserved opcode 0xB", rawHeader(0x8B, 0x80), serverLim, 1002},
		{"reserved opcode 0xF", rawHeader(0x8F, 0x80), serverLim, 1002},
		{"RSV1 not negotiated", rawHeader(0xC1, 0x80), serverLim, 1002},
		{"RSV2 not negotiated", rawHeader(0xA1, 0x80), serverLim, 1002},
		{"RSV3 not negotiated", rawHeader(0x91, 0x80), serverLim, 1002},
		{"RSV2 with RSV1 allowed", rawHeader(0xE1, 0x80), Limits{AllowedRSV: RSV1}, 1002},
		{"fragmented ping", rawHeader(0x09, 0x80), serverLim, 1002},
		{"fragmented close", rawHeader(0x08, 0x80), serverLim, 1002},
		{"ping of 126", rawHeader(0x89, 0x80|126, 0, 126), serverLim, 1002},
		{"pong of 127", rawHeader(0x8A, 0x80|127), serverLim, 1002},
		{"non-minimal 16-bit", rawHeader(0x82, 0x80|126, 0, 125), serverLim, 1002},
		{"non-minimal 64-bit", rawHeader(0x82, 0x80|127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF), serverLim, 1002},
		{"64-bit top bit", rawHeader(0x82, 0x80|127, 0x80, 0, 0, 0, 0, 0, 0, 0), serverLim, 1002},
		{"unmasked to server", rawHeader(0x81, 5), serverLim, 1002},
		{"masked to client", rawHeader(0x81, 0x85), Limits{ForbidMask: true}, 1002},
		{"too big 7-bit", append(rawHeader(0x82, 0x80|11), m...), Limits{MaxFrameSize: 10}, 1009},
		{"too big 16-bit", append(rawHeader(0x82, 0x80|126, 1, 0), m...), Limits{MaxFrameSize: 255}, 1009},
		{"too big 64-bit", append(rawHeader(0x82, 0x80|127, 0, 0, 0, 1, 0, 0, 0, 0), m...), Limits{MaxFrameSize: 1 << 20}, 1009},
	}
	for _, c := range cases {
		var h Header
		n, err := ParseHeader(c.buf, &h, c.lim)
		if n != 0 {
			t.Errorf("%s: n = %d", c.name, n)
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s: err = %v, want code %d", c.name, err, c.code)
		}
	}
	// Allowed: exactly at the limits, and RSV1 once negotiated.
	ok := []struct {
		buf []byte
		lim Limits
	}{
		{append(rawHeader(0x89, 0x80|125), m...), serverLim},
		{append(rawHeader(0x82, 0x80|10), m...), Limits{MaxFrameSize: 10, RequireMask: true}},
		{append(rawHeader(0xC1, 0x80), m...), Limits{AllowedRSV: RSV1, RequireMask: true}},
		{rawHeader(0x01, 0x00), Limits{ForbidMask: true}},
	}
	for _, c := range ok {
		var h Header
		if n, err := ParseHeader(c.buf, &h, c.lim); n != len(c.buf) || err != nil {
			t.Errorf("% x: (%d, %v), want (%d, nil)", c.buf, n, err, len(c.buf))
		}
	}
}

func TestParseHeaderFields(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	buf := AppendFrame(nil, false, RSV1, Text, []byte("Hello"), &key)
	var h Header
	n, err := ParseHeader(buf, &h, Limits{AllowedRSV: RSV1, RequireMask: true})
	want := Header{Fin: false, RSV: RSV1, Op: Text, Masked: true, Mask: key, Length: 5, HeaderLen: 6}
	if n != 6 || err != nil || h != want {
		t.Fatalf("(%d, %v) %+v, want %+v", n, err, h, want)
	}
	// RFC 6455 §5.7: a masked "Hello".
	if !bytes.Equal(buf, []byte{0x01 | 0x40, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}) {
		t.Fatalf("masked frame % x", buf)
	}
	Unmask(buf[n:], h.Mask, 0)
	if string(buf[n:]) != "Hello" {
		t.Fatalf("unmasked %q", buf[n:])
	}
}

// Every prefix of a header either asks for more (0, nil) or reports the
// same outcome as the whole header.
func TestSplitConsistency(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	frames := [][]byte{
		AppendFrame(nil, true, 0, Text, []byte("hi"), &key),
		AppendFrame(nil, true, 0, Binary, make([]byte, 300), &key),
		AppendFrame(nil, true, 0, Binary, make([]byte, 70000), &key),
		AppendFrame(nil, true, 0, Ping, nil, nil),
		AppendClose(nil, 1000, "bye", &key),
		rawHeader(0x82, 0x80|127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4),
		rawHeader(0x82, 0x80|126, 0, 5, 1, 2, 3, 4),
		rawHeader(0x82, 0x80|127, 0x80, 0, 0, 0, 0, 0, 0, 0),
		rawHeader(0x89, 0x80|126, 1, 0),
	}
	for _, lim := range []Limits{{}, serverLim, {ForbidMask: true}, {MaxFrameSize: 1000}} {
		for _, f := range frames {
			var whole Header
			wn, werr := ParseHeader(f, &whole, lim)
			for k := 0; k < len(f); k++ {
				var h Header
				n, err := ParseHeader(f[:k], &h, lim)
				if err == nil && n == 0 {
					continue
				}
				if n != wn || err != werr || (err == nil && h != whole) {
					t.Fatalf("% x split at %d: (%d, %v), whole (%d, %v)", f[:min(len(f), 16)], k, n, err, wn, werr)
				}
			}
		}
	}
	// Several frames back to back parse one after another.
	var stream []byte
	for _, f := range frames[:5] {
		stream = append(stream, f...)
	}
	pos, count := 0, 0
	for pos < len(stream) {
		var h Header
		n, err := ParseHeader(stream[pos:], &h, serverLim.withNone())
		if n == 0 || err != nil {
			t.Fatalf("frame %d at %d: (%d, %v)", count, pos, n, err)
		}
		pos += n + int(h.Length)
		count++
	}
	if count != 5 || pos != len(stream) {
		t.Fatalf("parsed %d frames ending at %d of %d", count, pos, len(stream))
	}
}

// withNone drops the masking requirement (the stream mixes masked and
// unmasked frames).
func (l Limits) withNone() Limits { l.RequireMask = false; return l }

func naiveUnmask(b []byte, key [4]byte, pos int) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestUnmask(t *testing.T) {
	key := [4]byte{0xA1, 0x52, 0x0C, 0xFF}
	src := make([]byte, 100)
	for i := range src {
		src[i] = byte(i*7 + 3)
	}
	for off := 0; off < 9; off++ {
		for n := 0; n+off <= len(src); n++ {
			for pos := 0; pos < 6; pos++ {
				got := append([]byte(nil), src...)
				want := append([]byte(nil), src...)
				next := Unmask(got[off:off+n], key, pos)
				naiveUnmask(want[off:off+n], key, pos)
				if !bytes.Equal(got, want) || next != (pos+n)%4 {
					t.Fatalf("off %d len %d pos %d: next %d", off, n, pos, next)
				}
			}
		}
	}
	// Unmasking in arbitrary pieces equals unmasking at once.
	whole := append([]byte(nil), src...)
	Unmask(whole, key, 0)
	for step := 1; step < 13; step++ {
		pieces := append([]byte(nil), src...)
		pos := 0
		for i := 0; i < len(pieces); i += step {
			pos = Unmask(pieces[i:min(i+step, len(pieces))], key, pos)
		}
		if !bytes.Equal(pieces, whole) {
			t.Fatalf("pieces of %d differ", step)
		}
	}
}

func TestAppendFrameKeepsPayload(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	p := []byte("payload stays clear")
	out := AppendFrame([]byte("prefix"), true, 0, Text, p, &key)
	if string(p) != "payload stays clear" || string(out[:6]) != "prefix" {
		t.Fatalf("payload or dst prefix modified: %q %q", p, out[:6])
	}
	var h Header
	n, err := ParseHeader(out[6:], &h, serverLim)
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	body := out[6+n:]
	Unmask(body, h.Mask, 0)
	if string(body) != string(p) {
		t.Fatalf("round trip %q", body)
	}
}

func TestClose(t *testing.T) {
	cases := []struct {
		p      []byte
		code   websocket.CloseCode
		reason string
		err    websocket.CloseCode
	}{
		{nil, websocket.CloseNoStatus, "", 0},
		{[]byte{0x03}, 0, "", 1002},
		{[]byte{0x03, 0xE8}, 1000, "", 0},
		{[]byte{0x03, 0xE8, 'o', 'k'}, 1000, "ok", 0},
		{append([]byte{0x0F, 0xA0}, "é"...), 4000, "é", 0},
		{[]byte{0x03, 0xE8, 0xC0, 0x80}, 0, "", 1007},
		{[]byte{0x03, 0xE8, 0xE2, 0x82}, 0, "", 1007},
	}
	for _, c := range cases {
		code, reason, err := ParseClosePayload(c.p)
		if c.err != 0 {
			if err == nil || err.Code != c.err {
				t.Errorf("% x: err %v, want code %d", c.p, err, c.err)
			}
			continue
		}
		if err != nil || code != c.code || reason != c.reason {
			t.Errorf("% x: (%d, %q, %v)", c.p, code, reason, err)
		}
	}
	valid := map[websocket.CloseCode]bool{1000: true, 1001: true, 1002: true, 1003: true, 1007: true, 1008: true,
		1009: true, 1010: true, 1011: true, 1012: true, 1013: true, 1014: true, 3000: true, 3999: true, 4000: true, 4999: true}
	for _, code := range []websocket.CloseCode{0, 1, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010,
		1011, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 3000, 3999, 4000, 4999, 5000, 65535} {
		_, _, err := ParseClosePayload([]byte{byte(code >> 8), byte(code)})
		if (err == nil) != valid[code] {
			t.Errorf("code %d: err %v, valid %v", code, err, valid[code])
		}
		if err != nil && err.Code != 1002 {
			t.Errorf("code %d: close code %d", code, err.Code)
		}
	}
}

func TestAppendClose(t *testing.T) {
	key := [4]byte{5, 6, 7, 8}
	for _, mask := range []*[4]byte{nil, &key} {
		f := AppendClose(nil, 1001, "going", mask)
		var h Header
		n, err := ParseHeader(f, &h, Limits{})
		if err != nil || n == 0 || h.Op != Close || !h.Fin || h.Masked != (mask != nil) {
			t.Fatalf("(%d, %v) %+v", n, err, h)
		}
		p := f[n:]
		if h.Masked {
			Unmask(p, h.Mask, 0)
		}
		if code, reason, err := ParseClosePayload(p); code != 1001 || reason != "going" || err != nil {
			t.Fatalf("(%d, %q, %v)", code, reason, err)
		}
	}
	if f := AppendClose(nil, 0, "ignored", nil); !bytes.Equal(f, []byte{0x88, 0}) {
		t.Fatalf("code 0: % x", f)
	}
	// A long reason is cut to fit a control frame, at a rune boundary.
	long := strings.Repeat("é", 100)
	f := AppendClose(nil, 1000, long, nil)
	var h Header
	n, err := ParseHeader(f, &h, Limits{})
	if err != nil || h.Length > MaxControlPayload {
		t.Fatalf("(%d, %v) length %d", n, err, h.Length)
	}
	if _, reason, err := ParseClosePayload(f[n:]); err != nil || len(reason) != 122 {
		t.Fatalf("reason of %d bytes, %v", len(reason), err)
	}
}

func TestHandshakeKeys(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" /* RFC 6455 §1.3 */ {
		t.Fatalf("AcceptKey = %q", got)
	}
	for key, want := range map[string]bool{
		"dGhlIHNhbXBsZSBub25jZQ==":  true,
		"AAAAAAAAAAAAAAAAAAAAAA==":  true,
		"dGhlIHNhbXBsZSBub25jZQ=":   false, // 23 chars
		"dGhlIHNhbXBsZSBub25jZQ===": false,
		"dGhlIHNhbXBsZSBub25jZSE=":  false, // 17 bytes
		"dGhlIHNhbXBsZSBub25jZ!==":  false,
		"dGhlIHNhbXBsZSBub25j\nQ==": false,
		"":                          false,
	} {
		if ValidKey(key) != want {
			t.Errorf("ValidKey(%q) = %v", key, !want)
		}
	}
}

func TestErrorString(t *testing.T) {
	var h Header
	_, err := ParseHeader(rawHeader(0x83, 0x80), &h, Limits{})
	if err == nil || err.Error() != "websocket 1002: reserved opcode" {
		t.Fatalf("%v", err)
	}
}
