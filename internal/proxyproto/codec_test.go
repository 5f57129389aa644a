package proxyproto

import (
	"net/netip"
	"os"
	"testing"

	"github.com/workermand/workermand/codec"
)

// fakeConn is a codec.Conn that records SetCodec and SetRemoteAddr.
type fakeConn struct {
	remote netip.AddrPort
	cd     codec.Codec
}

func (c *fakeConn) WriteRaw([]byte) bool            { return true }
func (c *fakeConn) SetCodec(cd codec.Codec)         { c.cd = cd }
func (c *fakeConn) MaxPackageSize() int             { return codec.DefaultMaxPackageSize }
func (c *fakeConn) RemoteAddr() netip.AddrPort      { return c.remote }
func (c *fakeConn) LocalAddr() netip.AddrPort       { return netip.AddrPort{} }
func (c *fakeConn) SetRemoteAddr(ap netip.AddrPort) { c.remote = ap }
func (c *fakeConn) WriteFile(f *os.File, _, _ int64) bool {
	f.Close()
	return true
}
func (c *fakeConn) PauseRecv()  {}
func (c *fakeConn) ResumeRecv() {}
func (c *fakeConn) Close()      {}
func (c *fakeConn) Linger()     {}

// feed runs b through the connection's codec as the loop does and returns
// the concatenated payloads of the messages delivered.
func feed(t *testing.T, c *fakeConn, b []byte) []byte {
	t.Helper()
	var got []byte
	for len(b) > 0 {
		n, err := c.cd.Input(b)
		if err != nil {
			t.Fatalf("Input: %v", err)
		}
		if n == 0 || n > len(b) {
			break
		}
		cd := c.cd
		m, err := cd.Decode(b[:n])
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if m.Kind != codec.KindNone {
			got = append(got, m.Data...)
		}
		b = b[n:]
	}
	return got
}

// migrating is a toy codec that can be handed over: every byte is a
// message; its state is a counter.
type migrating struct{ n byte }

func (m *migrating) Input(buf []byte) (int, error) { return 1, nil }
func (m *migrating) Decode(p []byte) (codec.Message, error) {
	m.n++
	return codec.Message{Kind: codec.KindData, Data: p}, nil
}
func (m *migrating) Encode(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }
func (m *migrating) Migrate() ([]byte, bool)              { return []byte{m.n}, true }
func (m *migrating) Resume(s []byte) error                { m.n = s[0]; return nil }

var (
	lb     = netip.MustParseAddrPort("10.1.2.3:5000")
	listed = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	toy    = codec.ProtocolFunc(func(codec.Conn) codec.Codec { return &migrating{} })
)

func TestWrapEmpty(t *testing.T) {
	c := &fakeConn{remote: lb}
	if cd := Wrap(toy, nil).NewCodec(c); cd == nil {
		t.Fatal("nil codec")
	} else if _, ok := cd.(*migrating); !ok {
		t.Fatalf("no sources: got %T, want the inner codec", cd)
	}
}

func TestWrapUnlisted(t *testing.T) {
	c := &fakeConn{remote: netip.MustParseAddrPort("127.0.0.1:9")}
	c.cd = Wrap(toy, listed).NewCodec(c)
	if _, ok := c.cd.(*migrating); !ok {
		t.Fatalf("unlisted peer got %T, want the inner codec", c.cd)
	}
}

func TestWrapMappedPeerListed(t *testing.T) {
	c := &fakeConn{remote: netip.MustParseAddrPort("[::ffff:10.9.9.9]:1")}
	c.cd = Wrap(toy, listed).NewCodec(c)
	if _, ok := c.cd.(*headerCodec); !ok {
		t.Fatalf("v4-mapped listed peer got %T", c.cd)
	}
}

func TestWrapHeaderThenMigrate(t *testing.T) {
	p := Wrap(toy, listed)
	c := &fakeConn{remote: lb}
	c.cd = p.NewCodec(c)
	if _, ok := c.cd.(codec.Migrator).Migrate(); ok {
		t.Fatal("connection movable before its header")
	}
	got := feed(t, c, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 4567 80\r\nab"))
	if string(got) != "ab" {
		t.Fatalf("delivered %q, want %q", got, "ab")
	}
	if c.remote.String() != "203.0.113.7:4567" {
		t.Fatalf("remote = %s", c.remote)
	}
	state, ok := c.cd.(codec.Migrator).Migrate()
	if !ok {
		t.Fatal("not movable after the header")
	}
	// The adopting process sees the balancer again and gets a fresh codec.
	c2 := &fakeConn{remote: lb}
	c2.cd = p.NewCodec(c2)
	if err := c2.cd.(codec.Migrator).Resume(state); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if c2.remote.String() != "203.0.113.7:4567" {
		t.Fatalf("adopted remote = %s", c2.remote)
	}
	if mv, ok := c2.cd.(*movable); !ok || mv.Codec.(*migrating).n != 2 {
		t.Fatalf("adopted codec %#v", c2.cd)
	}
	if got := feed(t, c2, []byte("PROXY")); string(got) != "PROXY" {
		t.Fatalf("adopted connection delivered %q", got)
	}
	// A state without the address is refused.
	c3 := &fakeConn{remote: lb}
	c3.cd = p.NewCodec(c3)
	if err := c3.cd.(codec.Migrator).Resume([]byte{1}); err == nil {
		t.Fatal("Resume accepted a state without the address")
	}
}

func TestWrapLocalKeepsPeer(t *testing.T) {
	c := &fakeConn{remote: lb}
	c.cd = Wrap(toy, listed).NewCodec(c)
	got := feed(t, c, append(v2(0x20, 0x00, nil), 'x'))
	if string(got) != "x" || c.remote != lb {
		t.Fatalf("delivered %q, remote %s", got, c.remote)
	}
}
