package httpproto

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
)

// encodeOn answers one request of the given shape with r on a fresh
// connection of p.
func encodeOn(t *testing.T, p *Protocol, r *http.Response, minor int, keep, head bool) string {
	t.Helper()
	c := p.NewCodec(&fakeConn{maxPkg: codec.DefaultMaxPackageSize}).(*conn)
	c.state, c.minor, c.keepAlive, c.headReq = stWaiting, minor, keep, head
	out, err := c.EncodeValue(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestHeadCacheSameBytes: a head from the cache is byte for byte the head
// the full encoder writes for the same response, on every kind of request.
func TestHeadCacheSameBytes(t *testing.T) {
	responses := []*http.Response{
		{Body: []byte("Hello, World!")},
		{Status: 200, Header: http.Header{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("hi")},
		{Status: 404, Reason: "Nowhere", Header: http.Header{{Name: "Server", Value: "mine"}, {Name: "X-A", Value: "1"}}},
		{Status: 299, Header: http.Header{{Name: "Connection", Value: "keep-alive, close"}}, Body: []byte("x")},
		{Status: 200, Header: http.Header{
			{Name: "Bad Name", Value: "x"}, {Name: "X-Bad", Value: "a\r\nInjected: yes"},
			{Name: "Content-Length", Value: "99"}, {Name: "Date", Value: "yesterday"}, {Name: "X-Ok", Value: "\tv "},
		}, Body: []byte("body")},
	}
	shapes := []struct {
		minor      int
		keep, head bool
	}{{1, true, false}, {1, false, false}, {0, true, false}, {0, false, false}, {1, true, true}}
	other := &http.Response{Header: http.Header{{Name: "X-Other", Value: "1"}}}
	for i, r := range responses {
		for _, s := range shapes {
			p, err := New(http.Options{Server: "workermand"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			encodeOn(t, p, other, 1, true, false) // the cache holds another head
			full := encodeOn(t, p, r, s.minor, s.keep, s.head)
			var cached string
			for range missesToReplace + 1 {
				cached = encodeOn(t, p, r, s.minor, s.keep, s.head)
			}
			if e := p.heads.entry.Load(); e == nil || !e.matches(max(r.Status, 200), r) {
				t.Fatalf("response %d: not cached after %d answers", i, missesToReplace+1)
			}
			if strings.Contains(full, "Injected") || cached != full {
				t.Fatalf("response %d %+v:\ncached %q\nfull   %q", i, s, cached, full)
			}
		}
	}
}

// TestHeadCacheFollowsChanges: a handler that changes the Response it
// reuses, or sends another length, gets heads with the change; a new
// second gets its Date.
func TestHeadCacheFollowsChanges(t *testing.T) {
	p, err := New(http.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Response{Header: http.Header{{Name: "X-Version", Value: "1"}}, Body: []byte("one")}
	encodeOn(t, p, r, 1, true, false)
	if out := encodeOn(t, p, r, 1, true, false); !strings.Contains(out, "X-Version: 1\r\n") || !strings.Contains(out, "Content-Length: 3\r\n") {
		t.Fatalf("cached head %q", out)
	}
	r.Header[0].Value = "2"
	r.Body = []byte("three")
	if out := encodeOn(t, p, r, 1, true, false); !strings.Contains(out, "X-Version: 2\r\n") || !strings.HasSuffix(out, "Content-Length: 5\r\n\r\nthree") {
		t.Fatalf("after a change: %q", out)
	}
	r.Header[0].Value = "1"
	r.Body = []byte("four")
	if out := encodeOn(t, p, r, 1, true, false); !strings.HasSuffix(out, "X-Version: 1\r\n"+string(currentDate())+"Content-Type: text/html;charset=utf-8\r\nContent-Length: 4\r\n\r\nfour") {
		t.Fatalf("another length: %q", out)
	}

	// Another second: five seconds ahead, never the clock's own second.
	refreshClock(time.Now().Add(5 * time.Second))
	before := string(currentDate())
	out := encodeOn(t, p, r, 1, true, false)
	after := string(currentDate()) // the clock's goroutine may have moved it back meanwhile
	if !strings.Contains(out, before) && !strings.Contains(out, after) {
		t.Fatalf("head %q has neither %q nor %q", out, before, after)
	}
	refreshClock(time.Now())
}

// TestHeadCacheStreamsNotCached: a chunked or event-stream head is never
// served from the cache: its framing differs.
func TestHeadCacheStreamsNotCached(t *testing.T) {
	p, err := New(http.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Response{Header: http.Header{{Name: "Transfer-Encoding", Value: "chunked"}}, Body: []byte("abc")}
	for range missesToReplace + 2 {
		if out := encodeOn(t, p, r, 1, true, false); !strings.Contains(out, "Transfer-Encoding: chunked\r\n") || !bytes.HasSuffix([]byte(out), []byte("3\r\nabc\r\n")) {
			t.Fatalf("chunked head %q", out)
		}
	}
	if p.heads.entry.Load() != nil {
		t.Fatal("a chunked head was cached")
	}
}

// TestHeadCacheConcurrent: connections of several loops share a Protocol;
// each gets the head of its own response while the others replace the
// cached one (run with -race too).
func TestHeadCacheConcurrent(t *testing.T) {
	p, err := New(http.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for g := range 4 {
		go func() {
			v := strings.Repeat(string(rune('a'+g)), g+1)
			r := &http.Response{Header: http.Header{{Name: "X-Loop", Value: v}}, Body: []byte(v)}
			c := p.NewCodec(&fakeConn{maxPkg: codec.DefaultMaxPackageSize}).(*conn)
			var out []byte
			for range 3 * missesToReplace {
				c.state, c.minor, c.keepAlive = stWaiting, 1, true
				var err error
				out, err = c.EncodeValue(out[:0], r)
				if err != nil || !strings.Contains(string(out), "X-Loop: "+v+"\r\n") || !strings.HasSuffix(string(out), "\r\n\r\n"+v) {
					done <- fmt.Sprintf("loop %d: %q, %v", g, out, err)
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
