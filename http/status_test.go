package http

import (
	"testing"
)

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{
		100: "Continue", 101: "Switching Protocols", 103: "Early Hints", 200: "OK", 204: "No Content",
		206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified", 308: "Permanent Redirect",
		408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
		421: "Misdirected Request", 422: "Unprocessable Content", 425: "Too Early", 426: "Upgrade Required",
		428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
		451: "Unavailable For Legal Reasons", 501: "Not Implemented", 505: "HTTP Version Not Supported",
		299: "", 0: "", 999: "",
	} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestAppendStatusLine(t *testing.T) {
	for _, c := range []struct {
		major, minor, code int
		reason, want       string
	}{
		{1, 1, 200, "", "HTTP/1.1 200 OK\r\n"},
		{1, 0, 404, "", "HTTP/1.0 404 Not Found\r\n"},
		{1, 1, 200, "OK", "HTTP/1.1 200 OK\r\n"},
		{1, 1, 200, "Fine", "HTTP/1.1 200 Fine\r\n"},
		{1, 1, 0, "", "HTTP/1.1 200 OK\r\n"},
		{1, 1, 299, "", "HTTP/1.1 299 \r\n"},
		{1, 1, 299, "Custom", "HTTP/1.1 299 Custom\r\n"},
		{1, 1, 42, "x", "HTTP/1.1 500 Internal Server Error\r\n"},
		{1, 1, 1000, "", "HTTP/1.1 500 Internal Server Error\r\n"},
		{1, 1, 200, "OK\r\nSet-Cookie: x=1", "HTTP/1.1 200 OK\r\n"},
		{1, 1, 404, "a\x00b", "HTTP/1.1 404 Not Found\r\n"},
		{2, 0, 503, "", "HTTP/2.0 503 Service Unavailable\r\n"},
		{1, 2, 101, "", "HTTP/1.2 101 Switching Protocols\r\n"},
	} {
		got := string(appendStatusLine([]byte(">"), c.major, c.minor, c.code, c.reason))
		if got != ">"+c.want {
			t.Errorf("appendStatusLine(%d.%d %d %q) = %q, want %q", c.major, c.minor, c.code, c.reason, got, ">"+c.want)
		}
	}
}

func TestAppendStatusLineAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		b := appendStatusLine(buf[:0], 1, 1, 200, "")
		b = appendStatusLine(b, 1, 1, 299, "Custom")
		b = appendStatusLine(b, 1, 0, 404, "Nope")
		_ = b
	}); n != 0 {
		t.Errorf("AppendStatusLine allocates %v times", n)
	}
}

func BenchmarkAppendStatusLine(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendStatusLine(buf[:0], 1, 1, 200, "")
	}
}

func BenchmarkAppendStatusLineCustom(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendStatusLine(buf[:0], 1, 1, 299, "Custom")
	}
}
