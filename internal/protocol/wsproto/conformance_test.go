package wsproto_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/workermand/workermand/internal/wsframe"
)

// frameSpec is one frame a conformance case sends (masked, as a client).
type frameSpec struct {
	fin     bool
	rsv     uint8
	op      wsframe.Opcode
	payload []byte
}

// reply is what the server must answer: a frame of op with payload, or a
// close with code (payload ignored).
type reply struct {
	op      wsframe.Opcode
	payload []byte
	code    uint16
}

func f(op wsframe.Opcode, p string) frameSpec {
	return frameSpec{fin: true, op: op, payload: []byte(p)}
}
func frag(op wsframe.Opcode, p string) frameSpec { return frameSpec{op: op, payload: []byte(p)} }
func echo(op wsframe.Opcode, p string) reply     { return reply{op: op, payload: []byte(p)} }
func closed(code uint16) reply                   { return reply{op: wsframe.Close, code: code} }

func closePayload(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

// TestConformance follows the numbering of the Autobahn testsuite's server
// cases (framing 1.x, pings 2.x, reserved bits 3.x, opcodes 4.x,
// fragmentation 5.x, UTF-8 6.x, closing 7.x, limits 9.x): Autobahn itself
// needs Python 2 or Docker, neither of which runs here.
func TestConformance(t *testing.T) {
	w := echoWorker()
	w.MaxPackageSize = 1 << 20
	addr := serve(t, w)
	long := func(n int) string { return strings.Repeat("*", n) }
	cases := []struct {
		id     string
		send   []frameSpec
		expect []reply
	}{
		{"1.1.1 text 0", []frameSpec{f(wsframe.Text, "")}, []reply{echo(wsframe.Text, "")}},
		{"1.1.2 text 125", []frameSpec{f(wsframe.Text, long(125))}, []reply{echo(wsframe.Text, long(125))}},
		{"1.1.3 text 126", []frameSpec{f(wsframe.Text, long(126))}, []reply{echo(wsframe.Text, long(126))}},
		{"1.1.4 text 127", []frameSpec{f(wsframe.Text, long(127))}, []reply{echo(wsframe.Text, long(127))}},
		{"1.1.6 text 65535", []frameSpec{f(wsframe.Text, long(65535))}, []reply{echo(wsframe.Text, long(65535))}},
		{"1.1.7 text 65536", []frameSpec{f(wsframe.Text, long(65536))}, []reply{echo(wsframe.Text, long(65536))}},
		{"1.2.3 binary 126", []frameSpec{f(wsframe.Binary, long(126))}, []reply{echo(wsframe.Binary, long(126))}},
		{"2.1 ping empty", []frameSpec{f(wsframe.Ping, "")}, []reply{echo(wsframe.Pong, "")}},
		{"2.3 ping binary payload", []frameSpec{f(wsframe.Ping, "\x00\xff\xfe")}, []reply{echo(wsframe.Pong, "\x00\xff\xfe")}},
		{"2.4 ping 125", []frameSpec{f(wsframe.Ping, long(125))}, []reply{echo(wsframe.Pong, long(125))}},
		{"2.5 ping 126", []frameSpec{f(wsframe.Ping, long(126))}, []reply{closed(1002)}},
		{"2.6 pings in a row", []frameSpec{f(wsframe.Ping, "a"), f(wsframe.Ping, "b")}, []reply{echo(wsframe.Pong, "a"), echo(wsframe.Pong, "b")}},
		{"2.7 unsolicited pong", []frameSpec{f(wsframe.Pong, "x"), f(wsframe.Text, "after")}, []reply{echo(wsframe.Text, "after")}},
		{"3.1 RSV1 without extension", []frameSpec{{fin: true, rsv: 4, op: wsframe.Text, payload: []byte("x")}}, []reply{closed(1002)}},
		{"3.2 RSV2", []frameSpec{f(wsframe.Text, "ok"), {fin: true, rsv: 2, op: wsframe.Text, payload: []byte("x")}}, []reply{echo(wsframe.Text, "ok"), closed(1002)}},
		{"3.3 RSV3 on a ping", []frameSpec{{fin: true, rsv: 1, op: wsframe.Ping}}, []reply{closed(1002)}},
		{"4.1.1 opcode 3", []frameSpec{{fin: true, op: 3}}, []reply{closed(1002)}},
		{"4.2.1 opcode 11", []frameSpec{{fin: true, op: 11}}, []reply{closed(1002)}},
		{"5.1 fragmented ping", []frameSpec{frag(wsframe.Ping, "a")}, []reply{closed(1002)}},
		{"5.2 fragmented pong", []frameSpec{frag(wsframe.Pong, "a")}, []reply{closed(1002)}},
		{"5.3 text in 2 fragments", []frameSpec{frag(wsframe.Text, "frag"), f(wsframe.Continuation, "ment")}, []reply{echo(wsframe.Text, "fragment")}},
		{"5.6 ping between fragments", []frameSpec{frag(wsframe.Text, "a"), f(wsframe.Ping, "p"), f(wsframe.Continuation, "b")}, []reply{echo(wsframe.Pong, "p"), echo(wsframe.Text, "ab")}},
		{"5.9 continuation first", []frameSpec{f(wsframe.Continuation, "x")}, []reply{closed(1002)}},
		{"5.15 new text inside a fragmented one", []frameSpec{frag(wsframe.Text, "a"), f(wsframe.Text, "b")}, []reply{closed(1002)}},
		{"5.19 many fragments with pings", []frameSpec{frag(wsframe.Text, "1"), frag(wsframe.Continuation, "2"), f(wsframe.Ping, "x"), frag(wsframe.Continuation, "3"), f(wsframe.Continuation, "4")}, []reply{echo(wsframe.Pong, "x"), echo(wsframe.Text, "1234")}},
		{"6.2.1 valid UTF-8", []frameSpec{f(wsframe.Text, "κόσμε 🌍")}, []reply{echo(wsframe.Text, "κόσμε 🌍")}},
		{"6.2.3 UTF-8 split in fragments", []frameSpec{frag(wsframe.Text, "\xce"), f(wsframe.Continuation, "\xba")}, []reply{echo(wsframe.Text, "κ")}},
		{"6.3.1 invalid UTF-8", []frameSpec{f(wsframe.Text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, []reply{closed(1007)}},
		{"6.4.1 fail fast on the first fragment", []frameSpec{frag(wsframe.Text, "ok\xff")}, []reply{closed(1007)}},
		{"6.6.1 truncated sequence at the end", []frameSpec{f(wsframe.Text, "\xce")}, []reply{closed(1007)}},
		{"6.x binary is never checked", []frameSpec{f(wsframe.Binary, "\xff\xfe")}, []reply{echo(wsframe.Binary, "\xff\xfe")}},
		{"7.1.1 close normal", []frameSpec{f(wsframe.Close, closePayload(1000, ""))}, []reply{closed(1000)}},
		{"7.3.2 close 1 byte", []frameSpec{f(wsframe.Close, "\x03")}, []reply{closed(1002)}},
		{"7.3.4 close with reason", []frameSpec{f(wsframe.Close, closePayload(1000, "bye"))}, []reply{closed(1000)}},
		{"7.5.1 close reason not UTF-8", []frameSpec{f(wsframe.Close, closePayload(1000, "\xff"))}, []reply{closed(1007)}},
		{"7.7.1 close 1000 echoed", []frameSpec{f(wsframe.Close, closePayload(1000, ""))}, []reply{closed(1000)}},
		{"7.7.3 close 1003 echoed", []frameSpec{f(wsframe.Close, closePayload(1003, ""))}, []reply{closed(1003)}},
		{"7.7.12 close 3000 echoed", []frameSpec{f(wsframe.Close, closePayload(3000, ""))}, []reply{closed(3000)}},
		{"7.7.13 close 4999 echoed", []frameSpec{f(wsframe.Close, closePayload(4999, ""))}, []reply{closed(4999)}},
		{"7.9.1 close 0", []frameSpec{f(wsframe.Close, closePayload(0, ""))}, []reply{closed(1002)}},
		{"7.9.3 close 1004", []frameSpec{f(wsframe.Close, closePayload(1004, ""))}, []reply{closed(1002)}},
		{"7.9.4 close 1005", []frameSpec{f(wsframe.Close, closePayload(1005, ""))}, []reply{closed(1002)}},
		{"7.9.5 close 1006", []frameSpec{f(wsframe.Close, closePayload(1006, ""))}, []reply{closed(1002)}},
		{"7.9.9 close 5000", []frameSpec{f(wsframe.Close, closePayload(5000, ""))}, []reply{closed(1002)}},
		{"7.x data after close is not answered", []frameSpec{f(wsframe.Close, closePayload(1000, "")), f(wsframe.Text, "late")}, []reply{closed(1000)}},
		{"9.1.6 text of max_package_size minus the header", []frameSpec{f(wsframe.Text, long(1<<20-14))}, []reply{echo(wsframe.Text, long(1<<20-14))}},
		{"9.x text over max_package_size", []frameSpec{f(wsframe.Text, long(1<<20+1))}, []reply{closed(1009)}},
		{"9.x fragments over max_package_size", []frameSpec{frag(wsframe.Binary, long(1<<19+1)), f(wsframe.Continuation, long(1<<19))}, []reply{closed(1009)}},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			cl, _ := upgrade(t, addr, "")
			mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
			var out []byte
			for _, s := range tc.send {
				out = wsframe.AppendFrame(out, s.fin, s.rsv, s.op, s.payload, &mask)
			}
			cl.c.Write(out)
			for i, want := range tc.expect {
				op, p := cl.read()
				if op != want.op {
					t.Fatalf("reply %d: opcode %d (%q), want %d", i, op, truncate(p), want.op)
				}
				if op == wsframe.Close {
					if len(p) < 2 || binary.BigEndian.Uint16(p) != want.code {
						t.Fatalf("reply %d: close %v, want code %d", i, truncate(p), want.code)
					}
					continue
				}
				if !bytes.Equal(p, want.payload) {
					t.Fatalf("reply %d: payload %q, want %q", i, truncate(p), truncate(want.payload))
				}
			}
			if tc.expect[len(tc.expect)-1].op == wsframe.Close {
				if b, err := cl.br.ReadByte(); err == nil {
					t.Fatalf("data after the close frame: %#x", b)
				}
			}
		})
	}
}

func truncate(p []byte) []byte {
	if len(p) > 40 {
		return p[:40]
	}
	return p
}
