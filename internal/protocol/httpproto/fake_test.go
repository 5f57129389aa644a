package httpproto

import (
	"net/netip"
	"os"

	"github.com/workermand/workermand/codec"
)

// fakeConn is the codec's view of a connection, for driving the codec
// without a loop in allocation tests and fuzzing (the behaviour over real
// sockets is tested in server_test.go).
type fakeConn struct {
	raw            []byte
	paused, closed bool
	maxPkg         int
}

func (f *fakeConn) WriteRaw(b []byte) bool { f.raw = append(f.raw, b...); return !f.closed }
func (f *fakeConn) WriteFile(file *os.File, _, _ int64) bool {
	file.Close()
	return !f.closed
}
func (f *fakeConn) SetCodec(codec.Codec)       {}
func (f *fakeConn) PauseRecv()                 { f.paused = true }
func (f *fakeConn) ResumeRecv()                { f.paused = false }
func (f *fakeConn) Close()                     { f.closed = true }
func (f *fakeConn) Linger()                    {}
func (f *fakeConn) MaxPackageSize() int        { return f.maxPkg }
func (f *fakeConn) RemoteAddr() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:5000") }
func (f *fakeConn) LocalAddr() netip.AddrPort  { return netip.MustParseAddrPort("127.0.0.1:80") }

var _ codec.Conn = (*fakeConn)(nil)

// drive frames every request in input as the loop would, answering each
// with answer; it stops at the first error or when the codec waits.
func drive(c *conn, input []byte, answer func(m codec.Message) []byte) (out []byte, err error) {
	return driveParts(c, [][]byte{input}, answer)
}

// driveParts hands the codec input arriving in parts, as the loop does: the
// bytes of each part are appended to those the codec left unconsumed, and
// packets are framed until it waits for more. It returns the answers and
// the first error.
func driveParts(c *conn, parts [][]byte, answer func(m codec.Message) []byte) (out []byte, err error) {
	var in []byte
	pending := 0 // a packet announced longer than the input so far
	for _, part := range parts {
		in = append(in, part...)
		for len(in) > 0 {
			n := pending
			if n == 0 {
				if n, err = c.Input(in); err != nil {
					return out, err
				}
				if n == 0 {
					break
				}
			}
			if n > len(in) {
				pending = n
				break
			}
			pending = 0
			m, err := c.Decode(in[:n])
			if err != nil {
				return out, err
			}
			in = in[n:]
			if m.Kind != codec.KindNone {
				if out, err = c.Encode(out, answer(m)); err != nil {
					return out, err
				}
			}
		}
	}
	return out, nil
}
