package wsproto

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/wsframe"
)

// fuzzConn is the codec's view of a connection for fuzzing without a loop
// (the behaviour over real sockets is tested in server_test.go).
type fuzzConn struct{ out []byte }

func (f *fuzzConn) WriteRaw(b []byte) bool                   { f.out = append(f.out, b...); return true }
func (f *fuzzConn) WriteFile(file *os.File, _, _ int64) bool { file.Close(); return true }
func (f *fuzzConn) SetCodec(codec.Codec)                     {}
func (f *fuzzConn) PauseRecv()                               {}
func (f *fuzzConn) ResumeRecv()                              {}
func (f *fuzzConn) Close()                                   {}
func (f *fuzzConn) Linger()                                  {}
func (f *fuzzConn) MaxPackageSize() int                      { return 1 << 16 }
func (f *fuzzConn) RemoteAddr() netip.AddrPort               { return netip.AddrPort{} }
func (f *fuzzConn) LocalAddr() netip.AddrPort                { return netip.AddrPort{} }

// drive frames input as the loop does and returns the messages delivered.
func drive(cd codec.Codec, input []byte) (msgs int, err error) {
	for len(input) > 0 {
		n, err := cd.Input(input)
		if err != nil || n == 0 || n > len(input) {
			return msgs, err
		}
		m, err := cd.Decode(input[:n])
		if err != nil {
			return msgs, err
		}
		if m.Kind != codec.KindNone {
			msgs++
			if _, err := cd.Encode(nil, m.Data); err != nil {
				return msgs, err
			}
		}
		input = input[n:]
	}
	return msgs, nil
}

const fuzzUpgrade = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"

// FuzzHandshake: arbitrary upgrade requests never panic the codec, and an
// accepted one answers 101 with the RFC's accept key.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte(fuzzUpgrade))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		fc := &fuzzConn{}
		cd := Default.NewCodec(fc)
		_, _ = drive(cd, in)
		cd.(*endpoint).Close()
	})
}

// openClientOn is a client codec on fc past its handshake.
func openClientOn(tb testing.TB, fc codec.Conn) codec.Codec {
	tb.Helper()
	cd := NewClient(nil).NewCodec(fc)
	if err := cd.(codec.Opener).Open(); err != nil {
		tb.Fatal(err)
	}
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		wsframe.AcceptKey(cd.(*endpoint).side.(*clientConn).key) + "\r\n\r\n"
	if n, err := drive(cd, []byte(head)); err != nil || n != 0 {
		tb.Fatalf("101: %d messages, %v", n, err)
	}
	return cd
}

// FuzzFrames: arbitrary bytes after a valid handshake never panic the
// codec, whatever frames (compressed or not) they hold.
func FuzzFrames(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	f.Add(wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("hello"), &mask))
	f.Add(append(wsframe.AppendFrame(nil, false, 0, wsframe.Binary, []byte("ab"), &mask), wsframe.AppendFrame(nil, true, 0, wsframe.Continuation, []byte("c"), &mask)...))
	f.Add(wsframe.AppendFrame(nil, true, 4, wsframe.Text, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, &mask))
	f.Add(wsframe.AppendClose(nil, 1000, "bye", &mask))
	f.Fuzz(func(t *testing.T, frames []byte) {
		fc := &fuzzConn{}
		cd := Default.NewCodec(fc)
		if _, err := drive(cd, []byte(fuzzUpgrade)); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		_, _ = drive(cd, frames)
	})
}

// FuzzClientFrames: arbitrary bytes from a server never panic the client
// codec, and whatever it writes back is masked, as a client's frames must be.
func FuzzClientFrames(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	f.Add(wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("hello"), nil))
	f.Add(append(wsframe.AppendFrame(nil, false, 0, wsframe.Binary, []byte("ab"), nil), wsframe.AppendFrame(nil, true, 0, wsframe.Continuation, []byte("c"), nil)...))
	f.Add(wsframe.AppendFrame(nil, true, 0, wsframe.Ping, []byte("p"), nil))
	f.Add(wsframe.AppendFrame(nil, true, 0, wsframe.Text, []byte("masked"), &mask))
	f.Add(wsframe.AppendClose(nil, 1000, "bye", nil))
	f.Fuzz(func(t *testing.T, frames []byte) {
		fc := &fuzzConn{}
		cd := openClientOn(t, fc)
		fc.out = fc.out[:0] // the upgrade request
		_, _ = drive(cd, frames)
		cd.(codec.Expirer).Expired(time.Now().Add(time.Hour), time.Hour)
		for out := fc.out; len(out) > 0; {
			var h wsframe.Header
			n, err := wsframe.ParseHeader(out, &h, wsframe.Limits{RequireMask: true})
			if err != nil || n == 0 || int64(len(out)-n) < h.Length {
				t.Fatalf("the client wrote % x: %d, %v", fc.out, n, err)
			}
			out = out[n+int(h.Length):]
		}
	})
}
