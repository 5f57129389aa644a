//go:build linux

package netloop

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/internal/sockets"
)

// benchEcho measures the loop's request path over a real socket: the client
// writes batch text lines per write and reads the echoes back, so each
// iteration is one read, batch Input/Decode/OnMessage/Encode calls and one
// corked write on the server.
func benchEcho(b *testing.B, batch int) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	fd, err := sockets.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), sockets.ListenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	text, _ := codec.Lookup("text")
	h := echoHandler()
	ln, err := l.AddListener(fd, ListenerConfig{Protocol: text, NewConn: func() *Conn {
		c := &Conn{}
		c.SetHandler(h)
		return c
	}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	defer func() {
		l.Stop()
		<-done
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := bytes.Repeat([]byte("hello world\n"), batch)
	resp := make([]byte, len(req))
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !bytes.Equal(resp, req) {
		b.Fatalf("echo mismatch: %q", resp)
	}
}

func BenchmarkEchoReqResp(b *testing.B)     { benchEcho(b, 1) }
func BenchmarkEchoPipelined16(b *testing.B) { benchEcho(b, 16) }

// BenchmarkProcessPipelined16 is the in-loop part of a pipelined batch
// without syscalls: 16 lines framed, delivered and echoed into the cork.
func BenchmarkProcessPipelined16(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	text, _ := codec.Lookup("text")
	c := &Conn{}
	c.SetHandler(echoHandler())
	c.init(l, -1, netip.AddrPort{}, nil)
	c.codec = text.NewCodec(c)
	c.status = StatusEstablished
	req := bytes.Repeat([]byte("hello world\n"), 16)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for range b.N {
		l.corkConn = c
		if n := c.process(req); n != len(req) {
			b.Fatalf("processed %d of %d bytes", n, len(req))
		}
		l.corkConn = nil
		if len(l.cork) != len(req) {
			b.Fatalf("corked %d bytes, want %d", len(l.cork), len(req))
		}
		l.cork = l.cork[:0]
	}
}
