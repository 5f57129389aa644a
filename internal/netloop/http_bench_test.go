//go:build linux

package netloop

import (
	"bytes"
	"fmt"
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
	resp := &http.Response{Header: http.Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}, Body: []byte("Hello, World!")}
	h := &handler{message: func(c *Conn, _ codec.Message) { _, _ = c.SendValue(resp) }}
	req := bytes.Repeat([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"), 16)
	benchProcess(b, httpproto.Default, h, netip.MustParseAddrPort("127.0.0.1:40000"), req, func(cork []byte) error {
		if bytes.Count(cork, []byte("Hello, World!")) != 16 {
			return fmt.Errorf("corked %q", cork)
		}
		return nil
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/req")
}
