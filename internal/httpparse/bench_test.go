package httpparse

import "testing"

const benchGET = "GET /plaintext HTTP/1.1\r\n" +
	"Host: localhost:8080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

func BenchmarkParseHead(b *testing.B) {
	buf := []byte(benchGET)
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := ParseHead(buf, &r, Limits{}); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseHeadIncomplete(b *testing.B) {
	buf := []byte(benchGET[:len(benchGET)-2])
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		ParseHead(buf, &r, Limits{})
	}
}

func BenchmarkChunked(b *testing.B) {
	buf := []byte("400\r\n" + string(make([]byte, 1024)) + "\r\n400;ext=1\r\n" + string(make([]byte, 1024)) + "\r\n0\r\n\r\n")
	var d ChunkedDecoder
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset()
		if _, _, done, err := d.Feed(buf); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}
