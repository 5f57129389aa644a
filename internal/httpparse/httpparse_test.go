package httpparse

import (
	"errors"
	"strings"
	"testing"
)

type headCase struct {
	name   string
	in     string
	lim    Limits
	status int // 0: parses
	check  func(t *testing.T, r *Request)
}

func statusOf(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if !errors.As(err, &e) {
		return -1
	}
	return e.Status
}

const okHead = "GET /index.html?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"

var headCases = []headCase{
	// Request line.
	{name: "simple GET", in: okHead, check: func(t *testing.T, r *Request) {
		eq(t, "method", r.Method, "GET")
		eq(t, "target", r.Target, "/index.html?a=1")
		eq(t, "proto", r.Proto, "HTTP/1.1")
		eq(t, "host", r.Host, "example.com")
		if r.Major != 1 || r.Minor != 1 || r.ContentLength != -1 || r.Chunked || !r.KeepAlive || r.ExpectContinue {
			t.Errorf("bad request fields %+v", r)
		}
		if r.HeadLen != len(okHead) || len(r.Headers) != 1 {
			t.Errorf("HeadLen %d headers %d", r.HeadLen, len(r.Headers))
		}
	}},
	{name: "any token method", in: "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "asterisk only for OPTIONS", in: "M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "CONNECT authority-form", in: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "target", r.Target, "example.com:443")
	}},
	{name: "OPTIONS asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "asterisk for GET", in: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "absolute-form", in: "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n"},
	{name: "authority-form for GET", in: "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "relative target", in: "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "lowercase method is a token", in: "get / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{name: "method not a token", in: "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "empty method", in: " / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "double space", in: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "space in target", in: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "tab in target", in: "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "control in target", in: "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "non-ASCII target", in: "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "no version", in: "GET /\r\nHost: a\r\n\r\n", status: 400},
	{name: "trailing space after version", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400},
	{name: "lowercase version", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "HTTP/1.2 is handled as 1.1", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "proto", r.Proto, "HTTP/1.2")
		if r.Major != 1 || r.Minor != 1 || !r.KeepAlive {
			t.Errorf("version %d.%d, keep-alive %v; want 1.1 rules", r.Major, r.Minor, r.KeepAlive)
		}
	}},
	{name: "HTTP/1.9 is handled as 1.1", in: "POST / HTTP/1.9\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.Minor != 1 || !r.Chunked || !r.ExpectContinue {
			t.Errorf("minor %d, chunked %v, expect %v; want 1.1 rules", r.Minor, r.Chunked, r.ExpectContinue)
		}
	}},
	{name: "HTTP/1.2 without Host", in: "GET / HTTP/1.2\r\n\r\n", status: 400},
	{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/3.1", in: "GET / HTTP/3.1\r\nHost: a\r\n\r\n", status: 505},
	{name: "HTTP/0.9", in: "GET / HTTP/0.9\r\n\r\n", status: 505},
	{name: "HTTP/1.10", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400},
	{name: "CR in request line", in: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
	{name: "leading empty lines skipped", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "method", r.Method, "GET")
		if r.HeadLen != 4+len("GET / HTTP/1.1\r\nHost: a\r\n\r\n") {
			t.Errorf("HeadLen %d", r.HeadLen)
		}
	}},

	// Line endings and folding.
	{name: "bare LF request line", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", status: 400},
	{name: "bare LF header", in: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", status: 400},
	{name: "bare LF terminator", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", status: 400},
	{name: "bare LF only", in: "GET / HTTP/1.1\nHost: a\n\n", status: 400},
	{name: "bare CR in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", status: 400},
	{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", status: 400},
	{name: "obs-fold tab", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", status: 400},
	{name: "first header folded", in: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400},

	// Field syntax.
	{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400},
	{name: "tab before colon", in: "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", status: 400},
	{name: "space in name", in: "GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", status: 400},
	{name: "TE with space before colon", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", status: 400},
	{name: "no colon", in: "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", status: 400},
	{name: "empty name", in: "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", status: 400},
	{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", status: 400},
	{name: "DEL in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", status: 400},
	{name: "obs-text and tab in value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: \t a\tb\xe9 \t\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "X", r.Header("x"), "a\tb\xe9")
	}},
	{name: "empty value", in: "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "X", r.Header("x"), "")
	}},

	// Host.
	{name: "missing Host 1.1", in: "GET / HTTP/1.1\r\nX: y\r\n\r\n", status: 400},
	{name: "duplicate Host", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", status: 400},
	{name: "duplicate Host any case", in: "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", status: 400},
	{name: "duplicate Host 1.0", in: "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
	{name: "no Host 1.0", in: "GET / HTTP/1.0\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.Host != nil || r.KeepAlive {
			t.Errorf("host %q keepalive %v", r.Host, r.KeepAlive)
		}
	}},
	{name: "empty Host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
	{name: "Host with port", in: "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n"},
	{name: "Host IPv6", in: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", check: func(t *testing.T, r *Request) {
		eq(t, "host", r.Host, "[::1]:8080")
	}},
	{name: "Host with path", in: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400},
	{name: "Host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400},
	{name: "Host with space", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
	{name: "Host bad port", in: "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", status: 400},
	{name: "Host bad IPv6", in: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", status: 400},

	// Content-Length.
	{name: "Content-Length", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.ContentLength != 42 {
			t.Errorf("CL %d", r.ContentLength)
		}
	}},
	{name: "Content-Length zero", in: "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n"},
	{name: "duplicate CL equal", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", status: 400},
	{name: "duplicate CL differing", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400},
	{name: "CL list", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", status: 400},
	{name: "CL sign", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", status: 400},
	{name: "CL negative", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", status: 400},
	{name: "CL hex", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", status: 400},
	{name: "CL empty", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", status: 400},
	{name: "CL inner space", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", status: 400},
	{name: "CL overflow", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 413},
	{name: "CL max int64", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n"},

	// Transfer-Encoding.
	{name: "chunked", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", check: func(t *testing.T, r *Request) {
		if !r.Chunked || r.ContentLength != -1 {
			t.Errorf("chunked %v CL %d", r.Chunked, r.ContentLength)
		}
	}},
	{name: "chunked any case", in: "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n"},
	{name: "CL then TE", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
	{name: "TE then CL", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", status: 400},
	{name: "TE chunked , identity", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked , identity\r\n\r\n", status: 400},
	{name: "TE chunked not last across lines", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", status: 400},
	{name: "TE chunked twice", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", status: 400},
	{name: "TE chunked twice across lines", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
	{name: "TE identity", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", status: 501},
	{name: "TE gzip, chunked", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
	{name: "TE gzip", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
	{name: "TE empty", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", status: 400},
	{name: "TE trailing comma", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", status: 400},
	{name: "TE empty element", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", status: 400},
	{name: "TE chunked with params", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", status: 400},
	{name: "TE junk", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", status: 400},
	{name: "TE chunkedx", in: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", status: 501},
	{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},

	// Connection and Expect.
	{name: "1.1 close", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", check: wantKeepAlive(false)},
	{name: "1.1 CLOSE in list", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade , CLOSE\r\n\r\n", check: wantKeepAlive(false)},
	{name: "1.1 keep-alive", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", check: wantKeepAlive(true)},
	{name: "1.1 closed lookalike", in: "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", check: wantKeepAlive(true)},
	{name: "1.0 default", in: "GET / HTTP/1.0\r\n\r\n", check: wantKeepAlive(false)},
	{name: "1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: wantKeepAlive(true)},
	{name: "1.0 keep-alive then close", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", check: wantKeepAlive(false)},
	{name: "expect continue", in: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n", check: func(t *testing.T, r *Request) {
		if !r.ExpectContinue {
			t.Error("ExpectContinue not set")
		}
	}},
	{name: "expect continue ignored in 1.0", in: "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", check: func(t *testing.T, r *Request) {
		if r.ExpectContinue {
			t.Error("ExpectContinue set for HTTP/1.0")
		}
	}},

	// Limits.
	{name: "too many headers", lim: Limits{MaxHeaders: 3}, in: "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", status: 431},
	{name: "headers at limit", lim: Limits{MaxHeaders: 3}, in: "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"},
	{name: "head at byte limit", lim: Limits{MaxHeaderBytes: len(okHead)}, in: okHead},
	{name: "head over byte limit", lim: Limits{MaxHeaderBytes: len(okHead) - 1}, in: okHead, status: 431},
	{name: "unterminated at limit", lim: Limits{MaxHeaderBytes: 64}, in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 64), status: 431},
	{name: "default byte limit", in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\r\n\r\n", status: 431},
	{name: "default byte limit unterminated", in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", DefaultMaxHeaderBytes), status: 431},
	{name: "default header limit", in: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaders) + "\r\n", status: 431},
	{name: "error before limit wins", lim: Limits{MaxHeaderBytes: 64}, in: "GET / HTTP/1.1\nHost: a\r\nX: " + strings.Repeat("a", 64), status: 400},
}

func wantKeepAlive(want bool) func(t *testing.T, r *Request) {
	return func(t *testing.T, r *Request) {
		if r.KeepAlive != want {
			t.Errorf("KeepAlive = %v, want %v", r.KeepAlive, want)
		}
	}
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParseHead(t *testing.T) {
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := ParseHead([]byte(tc.in), &r, tc.lim)
			if got := statusOf(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
			if tc.status != 0 {
				if n != 0 {
					t.Errorf("n = %d with an error", n)
				}
				return
			}
			if n != len(tc.in) || n != r.HeadLen {
				t.Fatalf("n = %d, HeadLen %d, want %d", n, r.HeadLen, len(tc.in))
			}
			if tc.check != nil {
				tc.check(t, &r)
			}
		})
	}
}

// TestParseHeadFastAgrees: the one-pass parser accepts only what the
// line-by-line parser accepts, with the same result, on every table case,
// its prefixes, and the cases with a byte changed into one the one-pass
// parser must not take for granted.
func TestParseHeadFastAgrees(t *testing.T) {
	accepted := 0
	for _, tc := range headCases {
		in := []byte(tc.in)
		for k := 0; k <= len(in); k++ {
			if checkFastAgrees(t, in[:k], tc.lim) && k == len(in) {
				accepted++
			}
		}
		if len(in) > 512 {
			continue // the limit cases: their prefixes above suffice
		}
		for i := range in {
			for _, c := range []byte{0, '\t', ' ', '\r', '\n', ':', 0x7f, 0x80, 0xff, '(', '/'} {
				mod := append([]byte(nil), in...)
				mod[i] = c
				checkFastAgrees(t, mod, tc.lim)
			}
		}
	}
	// The common heads do take the one-pass path.
	if accepted < 10 {
		t.Fatalf("the one-pass parser accepted only %d table cases", accepted)
	}
}

// checkFastAgrees reports whether parseHeadFast accepts in, and fails t if
// it does with another answer than parseHead.
func checkFastAgrees(t *testing.T, in []byte, lim Limits) bool {
	t.Helper()
	lim = lim.withDefaults()
	win := in[:min(len(in), lim.MaxHeaderBytes)]
	var fast, slow Request
	n, ok := parseHeadFast(win, lim.MaxHeaders, &fast)
	if !ok {
		return false
	}
	n2, err := parseHead(win, len(in) >= lim.MaxHeaderBytes, lim.MaxHeaders, &slow)
	if err != nil || n2 != n || !sameRequest(&fast, &slow) {
		t.Fatalf("%q: one pass (%d, %+v), line by line (%d, %v, %+v)", in, n, fast, n2, err, slow)
	}
	return true
}

// TestParseHeadSplit feeds every table case one byte at a time: every
// prefix answers "incomplete" or the final answer, and the first answer is
// the one the whole input gets.
func TestParseHeadSplit(t *testing.T) {
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			checkSplit(t, []byte(tc.in), tc.lim)
		})
	}
}

func checkSplit(t *testing.T, in []byte, lim Limits) {
	t.Helper()
	var full, r Request
	wantN, wantErr := ParseHead(in, &full, lim)
	answered := false
	for k := 0; k <= len(in); k++ {
		n, err := ParseHead(in[:k], &r, lim)
		if n == 0 && err == nil {
			if answered {
				t.Fatalf("prefix %d: incomplete after an answer", k)
			}
			continue
		}
		answered = true
		if n != wantN || statusOf(err) != statusOf(wantErr) || (err != nil && err != wantErr) {
			t.Fatalf("prefix %d: (%d, %v), whole input (%d, %v)", k, n, err, wantN, wantErr)
		}
		if err == nil && !sameRequest(&r, &full) {
			t.Fatalf("prefix %d: request %+v, whole input %+v", k, r, full)
		}
	}
	if !answered && (wantN != 0 || wantErr != nil) {
		t.Fatal("no prefix answered")
	}
}

func sameRequest(a, b *Request) bool {
	if string(a.Method) != string(b.Method) || string(a.Target) != string(b.Target) ||
		string(a.Proto) != string(b.Proto) || string(a.Host) != string(b.Host) ||
		(a.Host == nil) != (b.Host == nil) ||
		a.Major != b.Major || a.Minor != b.Minor || a.ContentLength != b.ContentLength ||
		a.Chunked != b.Chunked || a.KeepAlive != b.KeepAlive || a.ExpectContinue != b.ExpectContinue ||
		a.HeadLen != b.HeadLen || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if string(a.Headers[i].Name) != string(b.Headers[i].Name) || string(a.Headers[i].Value) != string(b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func TestParseHeadIncomplete(t *testing.T) {
	var r Request
	for _, in := range []string{"", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r", "\r\n\r\n"} {
		if n, err := ParseHead([]byte(in), &r, Limits{}); n != 0 || err != nil {
			t.Errorf("%q: (%d, %v), want (0, nil)", in, n, err)
		}
	}
}

func TestParseHeadPipelined(t *testing.T) {
	in := []byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	var r Request
	var targets []string
	buf := in
	for len(buf) > 0 {
		n, err := ParseHead(buf, &r, Limits{})
		if err != nil || n == 0 {
			t.Fatalf("at %q: (%d, %v)", buf, n, err)
		}
		targets = append(targets, string(r.Target))
		if !r.KeepAlive != (string(r.Target) == "/d") {
			t.Errorf("%s: KeepAlive %v", r.Target, r.KeepAlive)
		}
		buf = buf[n:]
		if r.ContentLength > 0 {
			buf = buf[r.ContentLength:]
		}
	}
	if got := strings.Join(targets, ","); got != "/a,/b,/c,/d" {
		t.Fatalf("targets %s", got)
	}

	// The first request's answer does not depend on what follows it, even
	// when the rest is malformed or incomplete.
	for _, tail := range []string{"", "G", "GET / HTTP/1.1\n", "\x00\x00", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"} {
		first := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
		n, err := ParseHead([]byte(first+tail), &r, Limits{})
		if n != len(first) || err != nil || string(r.Target) != "/a" {
			t.Errorf("tail %q: (%d, %v)", tail, n, err)
		}
	}
}

func TestParseHeadReuse(t *testing.T) {
	var r Request
	if _, err := ParseHead([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHead([]byte("GET / HTTP/1.0\r\n\r\n"), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if r.Host != nil || r.ContentLength != -1 || r.ExpectContinue || r.KeepAlive || len(r.Headers) != 0 || r.Minor != 0 {
		t.Fatalf("stale fields after reuse: %+v", r)
	}
}

func TestErrorString(t *testing.T) {
	var r Request
	_, err := ParseHead([]byte("GET / HTTP/3.0\r\n\r\n"), &r, Limits{})
	if err == nil || err.Error() != "http 505: HTTP version not supported" {
		t.Fatalf("%v", err)
	}
}

// validHostByChar is validHost written the plain way, byte by byte up to
// the port, for TestValidHostAgrees.
func validHostByChar(h []byte) bool {
	if len(h) > 0 && h[0] == '[' {
		return validHost(h) // the IP-literal branch is shared
	}
	for len(h) > 0 && h[0] != ':' {
		if !hostChar[h[0]] {
			return false
		}
		h = h[1:]
	}
	if len(h) == 0 {
		return true
	}
	for _, c := range h[1:] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// TestValidHostAgrees: every string of up to four bytes from an alphabet
// of the bytes that matter gets the same answer from both.
func TestValidHostAgrees(t *testing.T) {
	alphabet := []byte("a1:.-%/@ \x00\x80]")
	var walk func(h []byte)
	walk = func(h []byte) {
		if validHost(h) != validHostByChar(h) {
			t.Fatalf("validHost(%q) = %v", h, validHost(h))
		}
		if len(h) == 4 {
			return
		}
		for _, c := range alphabet {
			walk(append(h, c))
		}
	}
	walk(nil)
}
