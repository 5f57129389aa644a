package httpparse

import (
	"strings"
	"testing"
)

type chunkResult struct {
	payload  string
	trailers string // "name: value\n" each
	consumed int    // bytes of the body, when done
	done     bool
	status   int
}

// runChunked feeds in to a fresh decoder the way a connection would: the
// bytes arrive in pieces ending at the offsets in cuts (then the rest), the
// unconsumed tail is kept and fed again with the next piece appended.
func runChunked(in []byte, cuts ...int) chunkResult {
	var d ChunkedDecoder
	var res chunkResult
	var acc, payload []byte
	finish := func() chunkResult {
		res.payload = string(payload)
		return res.normalize()
	}
	start := 0
	feed := func(end int) bool {
		acc = append(acc, in[start:end]...)
		start = end
		n, pieces, done, err := d.Feed(acc)
		if n < 0 || n > len(acc) {
			panic("Feed consumed outside its buffer")
		}
		for _, p := range pieces {
			// Appended, not concatenated: a body of many tiny chunks must
			// not make one fuzz input take seconds.
			payload = append(payload, p...)
		}
		res.consumed += n
		if err != nil {
			res.status = statusOf(err)
			return false
		}
		if done {
			for _, h := range d.Trailers {
				res.trailers += string(h.Name) + ": " + string(h.Value) + "\n"
			}
			res.done = true
			return false
		}
		acc = append(acc[:0], acc[n:]...)
		return true
	}
	for _, c := range cuts {
		if c < start || c > len(in) {
			continue
		}
		if !feed(c) {
			return finish()
		}
	}
	feed(len(in))
	return finish()
}

// normalize drops what a failed decode produced before failing: how much
// was consumed and handed out before the error depends on the split.
func (r chunkResult) normalize() chunkResult {
	if r.status != 0 {
		return chunkResult{status: r.status}
	}
	if !r.done {
		r.consumed = 0 // incomplete: consumption depends on the split
	}
	return r
}

var chunkCases = []struct {
	name     string
	in       string
	payload  string
	trailers string
	status   int
	done     bool
}{
	{name: "simple", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", payload: "hello world", done: true},
	{name: "hex case", in: "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", payload: strings.Repeat("0123456789", 2), done: true},
	{name: "leading zeros", in: "0005\r\nhello\r\n000\r\n\r\n", payload: "hello", done: true},
	{name: "extensions", in: "5;name=value\r\nhello\r\n3 ; a ; b = \"q\\\"x;\" ;c=d\r\nabc\r\n0;last\r\n\r\n", payload: "helloabc", done: true},
	{name: "trailers", in: "3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other:  v v \r\n\r\n", payload: "abc", trailers: "X-Sum: 42\nX-Other: v v\n", done: true},
	{name: "next message follows", in: "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", payload: "abc", done: true},
	{name: "empty body", in: "0\r\n\r\n", done: true},
	{name: "binary data with CRLF inside", in: "4\r\n\r\n\r\n\r\n0\r\n\r\n", payload: "\r\n\r\n", done: true},
	{name: "max size accepted", in: "7fffffffffffffff\r\nabc", payload: "abc"},
	{name: "incomplete", in: "5\r\nhel", payload: "hel"},
	{name: "incomplete trailers", in: "0\r\nX: y\r\n"},

	{name: "invalid hex", in: "g\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "hex prefix", in: "0x5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "empty size", in: "\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "negative size", in: "-5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "plus size", in: "+5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "space before size", in: " 5\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "trailing space after size", in: "5 \r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "huge size overflow", in: "ffffffffffffffff\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "huge size 17 digits", in: "10000000000000000\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "huge size wraps to small", in: "100000000000000005\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "bare LF after size", in: "5\nhello\r\n0\r\n\r\n", status: 400},
	{name: "bare LF after data", in: "5\r\nhello\n0\r\n\r\n", status: 400},
	{name: "bare LF last chunk", in: "5\r\nhello\r\n0\n\r\n", status: 400},
	{name: "bare LF end of trailers", in: "5\r\nhello\r\n0\r\n\n", status: 400},
	{name: "data longer than size", in: "3\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "missing CRLF after data", in: "5\r\nhelloX\r\n0\r\n\r\n", status: 400},
	{name: "CR without LF after data", in: "5\r\nhello\rX0\r\n\r\n", status: 400},
	{name: "CR in size line", in: "5\r;x\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext without name", in: "5;\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext with empty value", in: "5;a=\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext unterminated quote", in: "5;a=\"x\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext junk", in: "5;a b\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "ext control char", in: "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "size line too long", in: "5;a=" + strings.Repeat("x", MaxChunkLine) + "\r\nhello\r\n0\r\n\r\n", status: 400},
	{name: "size line too long unterminated", in: "5;a=" + strings.Repeat("x", MaxChunkLine), status: 400},
	{name: "trailer obs-fold", in: "0\r\nX: a\r\n b\r\n\r\n", status: 400},
	{name: "trailer space before colon", in: "0\r\nX : a\r\n\r\n", status: 400},
	{name: "trailer without colon", in: "0\r\nXa\r\n\r\n", status: 400},
	{name: "trailers too large", in: "0\r\nX: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\r\n\r\n", status: 431},
	{name: "too many trailers", in: "0\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaders+1) + "\r\n", status: 431},
}

func TestChunked(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) {
			got := runChunked([]byte(tc.in))
			want := chunkResult{status: tc.status}
			if tc.status == 0 {
				want = chunkResult{payload: tc.payload, trailers: tc.trailers, done: tc.done}
				if tc.done {
					want.consumed = len(tc.in)
					if i := strings.Index(tc.in, "GET"); i >= 0 {
						want.consumed = i
					}
				}
			}
			if got != want {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestChunkedSplit cuts every table case at every byte (two pieces) and
// feeds it one byte at a time: the outcome never changes.
func TestChunkedSplit(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if len(in) > 2000 {
				in = in[:2000]
			}
			want := runChunked(in)
			for k := 0; k <= len(in); k++ {
				if got := runChunked(in, k); got != want {
					t.Fatalf("split at %d: %+v, whole %+v", k, got, want)
				}
			}
			every := make([]int, len(in))
			for i := range every {
				every[i] = i + 1
			}
			if got := runChunked(in, every...); got != want {
				t.Fatalf("byte at a time: %+v, whole %+v", got, want)
			}
		})
	}
}

func TestChunkedConsumption(t *testing.T) {
	var d ChunkedDecoder
	// A partial size line is not consumed; partial data is.
	n, p, done, err := d.Feed([]byte("5\r\nhe"))
	if n != 5 || len(p) != 1 || string(p[0]) != "he" || done || err != nil {
		t.Fatalf("(%d, %q, %v, %v)", n, p, done, err)
	}
	n, p, done, err = d.Feed([]byte("llo\r\n1"))
	if n != 5 || len(p) != 1 || string(p[0]) != "llo" || done || err != nil {
		t.Fatalf("(%d, %q, %v, %v)", n, p, done, err)
	}
	n, _, done, err = d.Feed([]byte("0\r\n\r\nrest"))
	if n != 5 || !done || err != nil || !d.Done() {
		t.Fatalf("(%d, %v, %v)", n, done, err)
	}
	// Done stays done and consumes nothing more.
	if n, _, done, err = d.Feed([]byte("rest")); n != 0 || !done || err != nil {
		t.Fatalf("after done: (%d, %v, %v)", n, done, err)
	}
	// Failure sticks until Reset.
	d.Reset()
	if _, _, _, err = d.Feed([]byte("z\r\n")); statusOf(err) != 400 {
		t.Fatalf("bad hex: %v", err)
	}
	if _, _, _, err = d.Feed([]byte("0\r\n\r\n")); statusOf(err) != 400 {
		t.Fatalf("after failure: %v", err)
	}
	d.Reset()
	if _, _, done, err = d.Feed([]byte("0\r\n\r\n")); !done || err != nil {
		t.Fatalf("after Reset: %v %v", done, err)
	}
}

func TestChunkedTrailerLimits(t *testing.T) {
	d := ChunkedDecoder{MaxTrailerBytes: 10, MaxTrailers: 1}
	if _, _, _, err := d.Feed([]byte("0\r\nA: 123456\r\n\r\n")); statusOf(err) != 431 {
		t.Fatalf("bytes: %v", err)
	}
	d = ChunkedDecoder{MaxTrailers: 1}
	if _, _, _, err := d.Feed([]byte("0\r\nA: 1\r\nB: 2\r\n\r\n")); statusOf(err) != 431 {
		t.Fatalf("count: %v", err)
	}
}
