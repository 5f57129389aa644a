//go:build !race

package httpparse

import "testing"

const typicalGET = "GET /plaintext?x=1 HTTP/1.1\r\n" +
	"Host: server.example.com:8080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

func TestParseHeadAllocs(t *testing.T) {
	buf := []byte(typicalGET)
	var r Request
	if n, err := ParseHead(buf, &r, Limits{}); n != len(buf) || err != nil || len(r.Headers) != 6 {
		t.Fatalf("(%d, %v), %d headers", n, err, len(r.Headers))
	}
	if a := testing.AllocsPerRun(1000, func() { ParseHead(buf, &r, Limits{}) }); a != 0 {
		t.Fatalf("ParseHead allocates %v times per call", a)
	}
	bad := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
	if a := testing.AllocsPerRun(1000, func() { ParseHead(bad, &r, Limits{}) }); a != 0 {
		t.Fatalf("ParseHead allocates %v times per refused call", a)
	}
}

func TestChunkedAllocs(t *testing.T) {
	buf := []byte("5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
	var d ChunkedDecoder
	d.Feed(buf)
	if a := testing.AllocsPerRun(1000, func() { d.Reset(); d.Feed(buf) }); a != 0 {
		t.Fatalf("Feed allocates %v times per body", a)
	}
}
