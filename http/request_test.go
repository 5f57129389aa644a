package http

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// req builds a request from a head written with "\n" line ends.
func req(head string) *Request {
	return newRequest([]byte(strings.ReplaceAll(head, "\n", "\r\n")), nil, nil, source{})
}

func TestRequestLine(t *testing.T) {
	tests := []struct {
		head                            string
		method, uri, path, query, proto string
	}{
		{"GET / HTTP/1.1\nHost: a\n\n", "GET", "/", "/", "", "1.1"},
		{"GET /a/b?x=1&y=2 HTTP/1.1\nHost: a\n\n", "GET", "/a/b?x=1&y=2", "/a/b", "x=1&y=2", "1.1"},
		{"GET /a%20b%2Fc%3f?q HTTP/1.1\n\n", "GET", "/a%20b%2Fc%3f?q", "/a b/c?", "q", "1.1"},
		{"GET /a+b HTTP/1.1\n\n", "GET", "/a+b", "/a+b", "", "1.1"},
		{"GET /%E4%BD%A0 HTTP/1.1\n\n", "GET", "/%E4%BD%A0", "/你", "", "1.1"},
		{"GET /bad%zz/x?y HTTP/1.0\n\n", "GET", "/bad%zz/x?y", "/bad%zz/x", "y", "1.0"},
		{"GET /ok%41/bad% HTTP/1.1\n\n", "GET", "/ok%41/bad%", "/ok%41/bad%", "", "1.1"},
		{"GET /bad%4 HTTP/1.1\n\n", "GET", "/bad%4", "/bad%4", "", "1.1"},
		{"GET /? HTTP/1.1\n\n", "GET", "/?", "/", "", "1.1"},
		{"GET /p#frag HTTP/1.1\n\n", "GET", "/p#frag", "/p", "", "1.1"},
		{"GET /p?q=1#frag HTTP/1.1\n\n", "GET", "/p?q=1#frag", "/p", "q=1", "1.1"},
		{"GET http://example.com/p?q=1 HTTP/1.1\nHost: x\n\n", "GET", "http://example.com/p?q=1", "/p", "q=1", "1.1"},
		{"GET http://example.com HTTP/1.1\n\n", "GET", "http://example.com", "/", "", "1.1"},
		{"GET https://example.com?x=1 HTTP/1.1\n\n", "GET", "https://example.com?x=1", "/", "x=1", "1.1"},
		{"OPTIONS * HTTP/1.1\n\n", "OPTIONS", "*", "*", "", "1.1"},
		{"CONNECT example.com:443 HTTP/1.1\n\n", "CONNECT", "example.com:443", "", "", "1.1"},
		{"PURGE /cache HTTP/1.1\n\n", "PURGE", "/cache", "/cache", "", "1.1"},
		{"get / HTTP/1.1\n\n", "get", "/", "/", "", "1.1"},
		{"\n\nDELETE /x HTTP/1.1\n\n", "DELETE", "/x", "/x", "", "1.1"},
		{"GET /x HTTP/2.0\n\n", "GET", "/x", "/x", "", "2.0"},
		{"GET /x HTTP/1.2\n\n", "GET", "/x", "/x", "", "1.1"}, // handled as 1.1
		// Not HTTP at all: no panic, empty answers.
		{"", "", "", "", "", ""},
		{"GET\n\n", "GET", "", "", "", ""},
		{"GET /only-target\n", "GET", "/only-target", "/only-target", "", ""},
	}
	for _, tt := range tests {
		r := req(tt.head)
		got := []string{r.Method(), r.URI(), r.Path(), r.QueryString(), r.ProtocolVersion()}
		want := []string{tt.method, tt.uri, tt.path, tt.query, tt.proto}
		if !slices.Equal(got, want) {
			t.Errorf("%q: method, uri, path, query, version = %q, want %q", tt.head, got, want)
		}
	}
}

func TestQuery(t *testing.T) {
	tests := []struct {
		query string
		want  map[string][]string
	}{
		{"", map[string][]string{}},
		{"a=1&a=2&b=", map[string][]string{"a": {"1", "2"}, "b": {""}}},
		{"a+b=c+d%2B", map[string][]string{"a b": {"c d+"}}},
		{"x=%41%zz%&y=%4", map[string][]string{"x": {"A%zz%"}, "y": {"%4"}}},
		{"flag&n=1", map[string][]string{"flag": {""}, "n": {"1"}}},
		{"=v&&=&a=1&", map[string][]string{"a": {"1"}}},
		{"a;b=1", map[string][]string{"a;b": {"1"}}},
		{"a[]=1&a[]=2", map[string][]string{"a[]": {"1", "2"}}},
		{"q=%E4%BD%A0&e==x", map[string][]string{"q": {"你"}, "e": {"=x"}}},
	}
	for _, tt := range tests {
		r := req("GET /p?" + tt.query + " HTTP/1.1\nHost: a\n\n")
		if got := map[string][]string(r.Query()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Query of %q = %q, want %q", tt.query, got, tt.want)
		}
		for name, vs := range tt.want {
			if g := r.Get(name); g != vs[0] {
				t.Errorf("Get(%q) of %q = %q, want %q (the first value)", name, tt.query, g, vs[0])
			}
			if g := r.GetAll(name); !slices.Equal(g, vs) {
				t.Errorf("GetAll(%q) of %q = %q, want %q", name, tt.query, g, vs)
			}
		}
		if g := r.Get("absent"); g != "" {
			t.Errorf("Get(absent) = %q", g)
		}
		if g := r.GetAll("absent"); g != nil {
			t.Errorf("GetAll(absent) = %q, want nil", g)
		}
	}
}

func TestHeaders(t *testing.T) {
	r := req("POST /u HTTP/1.1\nHost: example.com:8080\nAccept: text/html\nX-Multi: a\nContent-Type: text/plain; charset=utf-8\nx-multi: b, c\nEmpty:\nContent-Length: 5\n\n")
	for name, want := range map[string]string{
		"host": "example.com:8080", "HOST": "example.com:8080", "Accept": "text/html",
		"x-multi": "a, b, c", "X-MULTI": "a, b, c", "empty": "", "missing": "",
		"content-type": "text/plain; charset=utf-8",
	} {
		if got := r.Header(name); got != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if got := r.HeaderValues("X-Multi"); !slices.Equal(got, []string{"a", "b, c"}) {
		t.Errorf("HeaderValues = %q, want the two fields separately", got)
	}
	if got := r.HeaderValues("nope"); got != nil {
		t.Errorf("HeaderValues(nope) = %q, want nil", got)
	}
	var names, values []string
	for n, v := range r.Headers() {
		names, values = append(names, n), append(values, v)
	}
	if want := []string{"host", "accept", "x-multi", "content-type", "x-multi", "empty", "content-length"}; !slices.Equal(names, want) {
		t.Errorf("Headers names = %q, want %q", names, want)
	}
	if values[2] != "a" || values[4] != "b, c" {
		t.Errorf("Headers values = %q", values)
	}
	for range r.Headers() {
		break // stopping early must not panic
	}
	if got := r.ContentType(); got != "text/plain; charset=utf-8" {
		t.Errorf("ContentType = %q", got)
	}
	if got := r.ContentLength(); got != 5 {
		t.Errorf("ContentLength = %d, want 5", got)
	}
}

func TestContentLength(t *testing.T) {
	tests := []struct {
		head string
		body string
		want int64
	}{
		{"GET / HTTP/1.1\nHost: a\n\n", "", -1},
		{"POST / HTTP/1.1\nContent-Length: 0\n\n", "", 0},
		{"POST / HTTP/1.1\nContent-Length: 12\n\n", "hello world!", 12},
		{"POST / HTTP/1.1\nContent-Length: x\n\n", "", -1},
		{"POST / HTTP/1.1\nContent-Length: 99999999999999999999999\n\n", "", -1},
		{"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n", "abc", 3},
		{"POST / HTTP/1.1\nTransfer-Encoding: Chunked\n\n", "", 0},
	}
	for _, tt := range tests {
		r := newRequest([]byte(strings.ReplaceAll(tt.head, "\n", "\r\n")), []byte(tt.body), nil, source{})
		if got := r.ContentLength(); got != tt.want {
			t.Errorf("%q: ContentLength = %d, want %d", tt.head, got, tt.want)
		}
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		head         string
		host, noPort string
	}{
		{"GET / HTTP/1.1\nHost: example.com\n\n", "example.com", "example.com"},
		{"GET / HTTP/1.1\nHost: Example.com:8080\n\n", "Example.com:8080", "Example.com"},
		{"GET / HTTP/1.1\nHost: [::1]:8080\n\n", "[::1]:8080", "[::1]"},
		{"GET / HTTP/1.1\nHost: [::1]\n\n", "[::1]", "[::1]"},
		{"GET / HTTP/1.1\nHost: 127.0.0.1:80\n\n", "127.0.0.1:80", "127.0.0.1"},
		{"GET / HTTP/1.0\n\n", "", ""},
		// RFC 9112 §3.2.2: the absolute-form authority wins over Host.
		{"GET http://real.example:81/p HTTP/1.1\nHost: other\n\n", "real.example:81", "real.example"},
		{"GET http://user:pw@real.example/p HTTP/1.1\nHost: other\n\n", "real.example", "real.example"},
	}
	for _, tt := range tests {
		r := req(tt.head)
		if got := r.Host(false); got != tt.host {
			t.Errorf("%q: Host(false) = %q, want %q", tt.head, got, tt.host)
		}
		if got := r.Host(true); got != tt.noPort {
			t.Errorf("%q: Host(true) = %q, want %q", tt.head, got, tt.noPort)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		head string
		want bool
	}{
		{"GET / HTTP/1.1\nHost: a\n\n", true},
		{"GET / HTTP/1.1\nHost: a\nConnection: close\n\n", false},
		{"GET / HTTP/1.1\nHost: a\nConnection: Upgrade, CLOSE\n\n", false},
		{"GET / HTTP/1.1\nHost: a\nConnection: keep-alive\nConnection: close\n\n", false},
		{"GET / HTTP/1.1\nHost: a\nConnection: closed\n\n", true},
		{"GET / HTTP/1.0\n\n", false},
		{"GET / HTTP/1.0\nConnection: Keep-Alive\n\n", true},
		{"GET / HTTP/1.0\nConnection: keep-alive, close\n\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := req(tt.head).KeepAlive(); got != tt.want {
			t.Errorf("%q: KeepAlive = %v, want %v", tt.head, got, tt.want)
		}
	}
}

func TestCookies(t *testing.T) {
	tests := []struct {
		fields []string
		want   map[string]string
	}{
		{nil, map[string]string{}},
		{[]string{"a=1; b=2"}, map[string]string{"a": "1", "b": "2"}},
		{[]string{"a=1;b=2;;  c = 3 "}, map[string]string{"a": "1", "b": "2", "c": "3"}},
		{[]string{`q="quoted value"; e=""; one="`}, map[string]string{"q": "quoted value", "e": "", "one": `"`}},
		{[]string{"enc=a%20b%2Bc%3D; plus=a+b/c=="}, map[string]string{"enc": "a b+c=", "plus": "a+b/c=="}},
		{[]string{"bad=%zz%4"}, map[string]string{"bad": "%zz%4"}},
		{[]string{"dup=first; dup=second"}, map[string]string{"dup": "first"}},
		{[]string{"a=1", "b=2; a=3"}, map[string]string{"a": "1", "b": "2"}},
		{[]string{"novalue; =x; k=v"}, map[string]string{"k": "v"}},
		{[]string{"n%20ame=v"}, map[string]string{"n%20ame": "v"}},
	}
	for _, tt := range tests {
		head := "GET / HTTP/1.1\nHost: a\n"
		for _, f := range tt.fields {
			head += "Cookie: " + f + "\n"
		}
		r := req(head + "\n")
		if got := r.Cookies(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Cookies of %q = %q, want %q", tt.fields, got, tt.want)
		}
		for name, v := range tt.want {
			if got := r.Cookie(name); got != v {
				t.Errorf("Cookie(%q) of %q = %q, want %q", name, tt.fields, got, v)
			}
		}
		if got := r.Cookie("absent"); got != "" {
			t.Errorf("Cookie(absent) = %q", got)
		}
	}
}

func TestTrailer(t *testing.T) {
	r := newRequest([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), []byte("data"),
		[]byte("Checksum: abc\r\nX-Rep: 1\r\nx-rep: 2\r\n\r\n"), source{})
	for name, want := range map[string]string{"checksum": "abc", "X-Rep": "1, 2", "host": "", "absent": ""} {
		if got := r.Trailer(name); got != want {
			t.Errorf("Trailer(%q) = %q, want %q", name, got, want)
		}
	}
	if got := r.Header("checksum"); got != "" {
		t.Errorf("a trailer field leaked into Header: %q", got)
	}
	if got := req("GET / HTTP/1.1\nHost: a\n\n").Trailer("x"); got != "" {
		t.Errorf("Trailer without a trailer = %q", got)
	}
}

func TestClientIP(t *testing.T) {
	opts, err := Options{TrustedProxies: []string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		fields string
		want   string
	}{
		{"untrusted peer, no headers", "203.0.113.9:5000", "", "203.0.113.9"},
		{"untrusted peer spoofs XFF", "203.0.113.9:5000", "X-Forwarded-For: 1.1.1.1\n", "203.0.113.9"},
		{"untrusted peer spoofs X-Real-IP", "203.0.113.9:5000", "X-Real-IP: 1.1.1.1\n", "203.0.113.9"},
		{"trusted proxy, one hop", "10.0.0.1:5000", "X-Forwarded-For: 198.51.100.7\n", "198.51.100.7"},
		{"client-forged left entries are not reached", "10.0.0.1:5000", "X-Forwarded-For: 6.6.6.6, 198.51.100.7\n", "198.51.100.7"},
		{"trusted chain is skipped", "10.0.0.1:5000", "X-Forwarded-For: 6.6.6.6, 198.51.100.7, 10.1.2.3, 192.168.1.1\n", "198.51.100.7"},
		{"XFF over several fields", "10.0.0.1:5000", "X-Forwarded-For: 6.6.6.6\nX-Forwarded-For: 198.51.100.7, 10.9.9.9\n", "198.51.100.7"},
		{"all entries trusted: the left-most", "10.0.0.1:5000", "X-Forwarded-For: 10.0.0.5, 10.0.0.6\n", "10.0.0.5"},
		{"entries with ports and brackets", "10.0.0.1:5000", "X-Forwarded-For: [2001:db8::1]:443\n", "2001:db8::1"},
		{"entry with port", "10.0.0.1:5000", "X-Forwarded-For: 198.51.100.7:1234 ,\n", "198.51.100.7"},
		{"garbage stops the walk: X-Real-IP", "10.0.0.1:5000", "X-Forwarded-For: 198.51.100.7, unknown\nX-Real-IP: 198.51.100.8\n", "198.51.100.8"},
		{"garbage and no X-Real-IP: the peer", "10.0.0.1:5000", "X-Forwarded-For: 1.1.1.1, unknown\n", "10.0.0.1"},
		{"X-Real-IP only", "10.0.0.1:5000", "X-Real-IP: 198.51.100.8\n", "198.51.100.8"},
		{"bad X-Real-IP", "10.0.0.1:5000", "X-Real-IP: localhost\n", "10.0.0.1"},
		{"IPv4-mapped trusted peer", "[::ffff:10.0.0.1]:5000", "X-Forwarded-For: 198.51.100.7\n", "198.51.100.7"},
		{"IPv4-mapped untrusted peer is unmapped", "[::ffff:203.0.113.9]:5000", "X-Forwarded-For: 1.1.1.1\n", "203.0.113.9"},
		{"IPv6 trusted proxy", "[fd00::1]:5000", "X-Forwarded-For: 2001:db8::7\n", "2001:db8::7"},
		{"single trusted IP", "192.168.1.1:1", "X-Forwarded-For: 198.51.100.7\n", "198.51.100.7"},
		{"neighbour of a single trusted IP", "192.168.1.2:1", "X-Forwarded-For: 198.51.100.7\n", "192.168.1.2"},
	}
	for _, tt := range tests {
		head := strings.ReplaceAll("GET / HTTP/1.1\nHost: a\n"+tt.fields+"\n", "\n", "\r\n")
		r := newRequest([]byte(head), nil, nil, source{Remote: netip.MustParseAddrPort(tt.peer), Options: &opts})
		if got := r.ClientIP(); got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: ClientIP = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Without options nobody is trusted.
	r := newRequest([]byte("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n"), nil, nil, source{Remote: netip.MustParseAddrPort("10.0.0.1:1")})
	if got := r.ClientIP(); got != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("default options: ClientIP = %v, want the peer", got)
	}
	if got := (&Request{}).ClientIP(); got.IsValid() {
		t.Errorf("no peer: ClientIP = %v, want the zero Addr", got)
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte("POST /f?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Method() != "POST" || r.Path() != "/f" || r.Get("x") != "1" || r.Post("b") != "2" || string(r.RawBody()) != "a=1&b=2" {
		t.Errorf("got %s %s x=%s b=%s body %q", r.Method(), r.Path(), r.Get("x"), r.Post("b"), r.RawBody())
	}

	r, err = ParseRequest([]byte("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nChecksum: 42\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.RawBody()) != "abcde" || r.Trailer("checksum") != "42" || r.ContentLength() != 5 {
		t.Errorf("chunked: body %q, trailer %q, length %d", r.RawBody(), r.Trailer("checksum"), r.ContentLength())
	}

	r, err = ParseRequest([]byte("GET / HTTP/1.0\r\n\r\n"))
	if err != nil || r.ProtocolVersion() != "1.0" || len(r.RawBody()) != 0 {
		t.Errorf("HTTP/1.0 without body: %v, %v", r, err)
	}

	for _, bad := range []struct{ raw, want string }{
		{"GET / HTTP/1.1\r\nHost: h\r\n", "incomplete"},
		{"GET / HTTP/1.1\nHost: h\r\n\r\n", "bare LF"},
		{"GET / HTTP/1.1\r\n\r\n", "missing Host"},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"},
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc", "3 of 5 bytes"},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc", "incomplete"},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"},
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n", "bytes after the request"},
		{"GET / HTTP/2.0\r\nHost: h\r\n\r\n", "505"},
	} {
		_, err := ParseRequest([]byte(bad.raw))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseRequest(%q) = %v, want an error with %q", bad.raw, err, bad.want)
		}
	}
}

// A Request is reused: Reset must forget every lazy result of the previous
// request.
func TestResetForgetsLazyResults(t *testing.T) {
	r := newRequest([]byte("PATCH /one?a=1 HTTP/1.1\r\nHost: one\r\nCookie: c=1\r\nX: 1\r\n\r\n"), []byte("f=1"), []byte("T: 1\r\n"), source{})
	r.Context = "session"
	_ = []any{r.Method(), r.Path(), r.URI(), r.Query(), r.Header("x"), r.Cookies(), r.PostForm(), r.Trailer("t"), r.Host(false)}
	r.reset([]byte("GET /two?b=2 HTTP/1.0\r\nCookie: d=2\r\n\r\n"), nil, nil, source{})
	got := []string{r.Method(), r.Path(), r.URI(), r.Get("a"), r.Get("b"), r.Header("x"), r.Cookie("c"), r.Cookie("d"), r.Post("f"), r.Trailer("t"), r.Host(false), r.ProtocolVersion()}
	want := []string{"GET", "/two", "/two?b=2", "", "2", "", "", "2", "", "", "", "1.0"}
	if !slices.Equal(got, want) {
		t.Errorf("after Reset got %q, want %q", got, want)
	}
	if r.Context != nil {
		t.Errorf("Context survived Reset: %v", r.Context)
	}
}

// The zero Request and a released one answer empty values, never panic.
func TestZeroRequest(t *testing.T) {
	for _, r := range []*Request{{}, newRequest([]byte("GET / HTTP/1.1\r\n\r\n"), nil, nil, source{})} {
		r.release()
		exerciseRequest(r)
		if r.Method() != "" || r.Path() != "" || r.Header("host") != "" || r.ContentLength() != -1 || r.KeepAlive() {
			t.Errorf("empty request: %q %q %q %d %v", r.Method(), r.Path(), r.Header("host"), r.ContentLength(), r.KeepAlive())
		}
	}
}

// exerciseRequest calls every accessor, for the fuzzers and the zero test.
func exerciseRequest(r *Request) {
	_ = r.Method() + r.URI() + r.Path() + r.QueryString() + r.ProtocolVersion()
	_ = r.Get("a") + r.Post("a") + r.Header("host") + r.ContentType() + r.Host(true) + r.Host(false)
	_ = r.GetAll("a")
	_ = r.Query()
	_ = r.PostForm()
	_ = r.HeaderValues("cookie")
	for range r.Headers() {
	}
	_ = r.ContentLength()
	_ = r.KeepAlive()
	_ = r.Cookie("a")
	_ = r.Cookies()
	_ = r.Trailer("a")
	_ = r.ClientIP()
	_, _ = r.Files()
	_ = r.File("a")
	var v any
	_ = r.JSON(&v)
}
