//go:build !race

package http

import "testing"

// The server reuses one Request per connection; these are the allocations
// of a warm one, per request.
func TestRequestAllocs(t *testing.T) {
	head := []byte("GET /plaintext?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\nCookie: sid=abc; t=1\r\n\r\n")
	var r Request
	tests := []struct {
		name string
		max  float64
		f    func()
	}{
		{"Method", 0, func() { _ = r.Method() }},
		{"Method+Path", 1, func() { _ = r.Method(); _ = r.Path() }},
		{"Path of /", 0, func() {}},
		{"Method+Path+Header", 2, func() { _ = r.Method(); _ = r.Path(); _ = r.Header("host") }},
		{"Header+Path+URI+QueryString+KeepAlive", 1, func() {
			_ = r.Header("accept")
			_ = r.Path()
			_ = r.URI()
			_ = r.QueryString()
			_ = r.KeepAlive()
			_ = r.ProtocolVersion()
			_ = r.ContentLength()
			_ = r.Host(true)
		}},
	}
	for _, tt := range tests {
		h := head
		if tt.name == "Path of /" {
			h = []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			tt.f = func() { _ = r.Method(); _ = r.Path() }
		}
		r.reset(h, nil, nil, source{})
		tt.f() // warm the header index
		got := testing.AllocsPerRun(200, func() {
			r.reset(h, nil, nil, source{})
			tt.f()
		})
		t.Logf("%s: %.0f allocs per request", tt.name, got)
		if got > tt.max {
			t.Errorf("%s: %.0f allocs per request, want at most %.0f", tt.name, got, tt.max)
		}
	}
}

func BenchmarkRequestMethodPath(b *testing.B) {
	head := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain,text/html;q=0.9\r\nConnection: keep-alive\r\n\r\n")
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		r.reset(head, nil, nil, source{})
		_ = r.Method()
		_ = r.Path()
	}
}

func BenchmarkRequestHeaderCookieQuery(b *testing.B) {
	head := []byte("GET /search?q=go+http&page=2 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nCookie: sid=0123456789abcdef; theme=dark\r\n\r\n")
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		r.reset(head, nil, nil, source{})
		_ = r.Header("user-agent")
		_ = r.Cookie("sid")
		_ = r.Get("q")
	}
}
