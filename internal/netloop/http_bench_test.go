//go:build linux

package netloop

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/protocol/httpproto"
)

// BenchmarkProcessHTTPPipelined16 is the in-loop part of httpbench's
// pipelined test without syscalls: 16 requests as wrk writes them (request
// line and Host) framed, delivered to a handler answering a fixed
// "Hello, World!" Response, and encoded into the cork.
func BenchmarkProcessHTTPPipelined16(b *testing.B) {
	l, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	resp := &http.Response{Header: http.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}, Body: []byte("Hello, World!")}
	c := &Conn{}
	c.SetHandler(&handler{message: func(c *Conn, _ codec.Message) { _, _ = c.SendValue(resp) }})
	c.init(l, -1, netip.MustParseAddrPort("127.0.0.1:40000"), nil)
	c.codec = httpproto.Default.NewCodec(c)
	c.status = StatusEstablished
	req := bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"), 16)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for range b.N {
		l.corkConn = c
		if n := c.process(req); n != len(req) {
			b.Fatalf("processed %d of %d bytes", n, len(req))
		}
		l.corkConn = nil
		if bytes.Count(l.cork, []byte("Hello, World!")) != 16 {
			b.Fatalf("corked %q", l.cork)
		}
		l.cork = l.cork[:0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/req")
}
