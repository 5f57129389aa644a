//go:build linux

package netloop

import (
	"bytes"
	"fmt"
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
	text, _ := codec.Lookup("text")
	req := bytes.Repeat([]byte("hello world\n"), 16)
	benchProcess(b, text, echoHandler(), netip.AddrPort{}, req, func(cork []byte) error {
		if len(cork) != len(req) {
			return fmt.Errorf("corked %d bytes, want %d", len(cork), len(req))
		}
		return nil
	})
}

// benchProcess measures Conn.process without syscalls: each round
// delivers req as one read to an established Conn of proto whose handler
// is h, checks what it corked and empties the cork.
func benchProcess(b *testing.B, proto codec.Protocol, h *handler, peer netip.AddrPort, req []byte, check func(cork []byte) error) {
	b.Helper()
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &Conn{}
	c.SetHandler(h)
	c.init(l, -1, peer, nil)
	c.codec = proto.NewCodec(c)
	c.status = StatusEstablished
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for range b.N {
		l.corkConn = c
		if n := c.process(req); n != len(req) {
			b.Fatalf("processed %d of %d bytes", n, len(req))
		}
		l.corkConn = nil
		if err := check(l.cork); err != nil {
			b.Fatal(err)
		}
		l.cork = l.cork[:0]
	}
	b.StopTimer() // the loop's Close is not part of it, nor of b.Elapsed
}
