//go:build !race

package httpproto

import (
	"strings"
	"testing"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
)

// TestSteadyStateAllocs: framing, delivering and answering pipelined
// requests allocates nothing once the connection's buffers are warm.
func TestSteadyStateAllocs(t *testing.T) {
	req := "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
	input := []byte(strings.Repeat(req, 16))
	c := Default.NewCodec(&fakeConn{maxPkg: codec.DefaultMaxPackageSize}).(*conn)
	body := []byte("Hello, World!")
	resp := &http.Response{Status: 200, Header: http.Header{{Name: "Content-Type", Value: "text/plain"}}, Body: body}
	out := make([]byte, 0, 64<<10)
	run := func() {
		rest := input
		for len(rest) > 0 {
			n, err := c.Input(rest)
			if err != nil || n == 0 {
				t.Fatalf("Input: %d %v", n, err)
			}
			if _, err := c.Decode(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			if out, err = c.EncodeValue(out[:0], resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Fatalf("%.1f allocations per 16 pipelined requests, want 0", allocs)
	}
}

func BenchmarkPipelined16(b *testing.B) {
	req := "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
	input := []byte(strings.Repeat(req, 16))
	c := Default.NewCodec(&fakeConn{maxPkg: codec.DefaultMaxPackageSize}).(*conn)
	resp := &http.Response{Status: 200, Header: http.Header{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("Hello, World!")}
	out := make([]byte, 0, 64<<10)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		rest := input
		for len(rest) > 0 {
			n, _ := c.Input(rest)
			c.Decode(rest[:n])
			rest = rest[n:]
			out, _ = c.EncodeValue(out[:0], resp)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/req")
}
