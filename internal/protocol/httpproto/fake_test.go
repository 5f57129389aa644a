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

// drive frames every request in input as the loop would (without the
// pending-length shortcut), answering each with answer; it stops at the
// first error or when the codec waits.
func drive(c *conn, input []byte, answer func(m codec.Message) []byte) (out []byte, err error) {
	for len(input) > 0 {
		n, err := c.Input(input)
		if err != nil || n == 0 || n > len(input) {
			return out, err
		}
		m, err := c.Decode(input[:n])
		if err != nil {
			return out, err
		}
		input = input[n:]
		if m.Kind != codec.KindNone {
			out, err = c.Encode(out, answer(m))
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}
