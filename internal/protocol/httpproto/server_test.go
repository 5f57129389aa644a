package httpproto_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// pathEcho answers every request with its method and path.
func pathEcho(c *workerman.Connection, m workerman.Message) {
	r := m.Value.(*http.Request)
	c.SendString(r.Method() + " " + r.Path())
}

func TestKeepAliveRules(t *testing.T) {
	addr := serve(t, newWorker(pathEcho))
	cases := []struct {
		name, req  string
		connection string // the Connection field expected in the response
		closes     bool
	}{
		{"1.1 persists", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "", false},
		{"1.1 close", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "close", true},
		{"1.1 close among tokens", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n", "close", true},
		{"1.0 closes", "GET /a HTTP/1.0\r\n\r\n", "close", true},
		{"1.0 keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.req)
			resp := c.response("GET")
			if got := body(t, resp); got != "GET /a" {
				t.Fatalf("body %q", got)
			}
			// net/http folds "Connection: close" into resp.Close.
			if resp.Close != tc.closes || tc.connection == "keep-alive" && !strings.EqualFold(resp.Header.Get("Connection"), "keep-alive") {
				t.Errorf("Close=%v Connection=%q, want close=%v %q", resp.Close, resp.Header.Get("Connection"), tc.closes, tc.connection)
			}
			if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") != "text/html;charset=utf-8" {
				t.Errorf("missing Date or default Content-Type: %v", resp.Header)
			}
			if tc.closes {
				c.expectEOF()
				return
			}
			c.send(strings.Replace(tc.req, "/a", "/b", 1))
			if got := body(t, c.response("GET")); got != "GET /b" {
				t.Fatalf("second request on the connection: %q", got)
			}
		})
	}
}

// TestPipelinedAsyncAnswersInOrder answers each request from a goroutine
// after a random delay: the responses must still come in request order.
func TestPipelinedAsyncAnswersInOrder(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := m.Value.(*http.Request)
		path := r.Path()
		go func() {
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			c.SendValue(http.NewResponse(200).WithBodyString(path))
		}()
	}))
	c := dial(t, addr)
	const n = 50
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	c.send(b.String()) // all at once: one write, many requests
	for i := range n {
		if got := body(t, c.response("GET")); got != "/"+strconv.Itoa(i) {
			t.Fatalf("response %d: body %q", i, got)
		}
	}
}

// TestSplitInput delivers a request one byte at a time, and then three
// requests coalesced with the fourth split across writes.
func TestSplitInput(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := m.Value.(*http.Request)
		c.SendString(r.Path() + ":" + string(r.RawBody()))
	}))
	c := dial(t, addr)
	req := "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	for i := range len(req) {
		c.send(req[i : i+1])
	}
	if got := body(t, c.response("POST")); got != "/one:hello" {
		t.Fatalf("byte-by-byte: %q", got)
	}
	four := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
	cut := len(four) - 7
	c.send(four[:cut])
	// The first three answers mean the server has read the cut-off head
	// of /d, so the rest arrives in a read of its own.
	for i, want := range []string{"/a:", "/b:", "/c:abc", "/d:xyz"} {
		if i == 3 {
			c.send(four[cut:])
		}
		if got := body(t, c.response("GET")); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestRefusals sends malformed and smuggling requests, each followed by a
// second request that must never be answered: the connection closes after
// the error response.
func TestRefusals(t *testing.T) {
	var mu sync.Mutex
	var served []string
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := m.Value.(*http.Request)
		mu.Lock()
		served = append(served, r.Path())
		mu.Unlock()
		c.SendString("ok")
	})
	w.MaxPackageSize = 4096
	addr := serve(t, w)
	const next = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"differing CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"TE not last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
		{"TE chunked , identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked , identity\r\n\r\n0\r\n\r\n", 400},
		{"TE unknown", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"space in name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"huge chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", 400},
		{"invalid hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400},
		{"chunk without CRLF", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405},
		{"body over max_package_size", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
		{"chunked over max_package_size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("400\r\n"+strings.Repeat("a", 1024)+"\r\n", 5), 413},
		{"head over max_header_bytes", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 17000) + "\r\n\r\n", 431},
		{"OPTIONS * only", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.req + next)
			resp := c.response("GET")
			text := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, text, tc.status)
			}
			if !resp.Close {
				t.Errorf("error response without Connection: close")
			}
			c.expectEOF()
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range served {
		if p == "/smuggled" {
			t.Fatalf("a request after a refused one was served: %v", served)
		}
	}
}

func TestExpectContinue(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		c.SendString(string(m.Value.(*http.Request).RawBody()))
	}))
	c := dial(t, addr)
	c.send("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if resp := c.response("PUT"); resp.StatusCode != 100 {
		t.Fatalf("status %d, want 100 Continue before the body", resp.StatusCode)
	}
	c.send("data")
	if got := body(t, c.response("PUT")); got != "data" {
		t.Fatalf("body %q", got)
	}
}

func TestChunkedRequestAndTrailers(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := m.Value.(*http.Request)
		c.SendString(string(r.RawBody()) + "|" + r.Trailer("X-Sum"))
	}))
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n")
	if got := body(t, c.response("POST")); got != "hello world|11" {
		t.Fatalf("body %q", got)
	}
}

func TestHeadHasNoBody(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) { c.SendString("twelve bytes") }))
	c := dial(t, addr)
	c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := c.response("HEAD")
	if resp.ContentLength != 12 {
		t.Fatalf("HEAD Content-Length %d, want 12", resp.ContentLength)
	}
	body(t, resp)
	if got := body(t, c.response("GET")); got != "twelve bytes" {
		t.Fatalf("GET after HEAD: %q (a HEAD body would corrupt the stream)", got)
	}
}

func TestStreamingResponses(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		switch m.Value.(*http.Request).Path() {
		case "/chunks":
			c.SendValue(http.NewResponse(200).WithHeader("Transfer-Encoding", "chunked"))
			go func() {
				for i := range 3 {
					c.SendValue(http.Chunk("part" + strconv.Itoa(i) + ";"))
				}
				c.SendValue(http.Chunk(nil))
			}()
		case "/events":
			c.SendValue(http.NewResponse(200).WithHeader("Content-Type", "text/event-stream"))
			c.SendValue(http.ServerSentEvent{Event: "tick", Data: "a\nb"})
			c.Close()
		}
	}))
	c := dial(t, addr)
	c.send("GET /chunks HTTP/1.1\r\nHost: x\r\n\r\nGET /chunks HTTP/1.1\r\nHost: x\r\n\r\n")
	for range 2 {
		resp := c.response("GET")
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("Transfer-Encoding %v", resp.TransferEncoding)
		}
		if got := body(t, resp); got != "part0;part1;part2;" {
			t.Fatalf("chunked body %q", got)
		}
	}
	e := dial(t, addr)
	e.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := e.response("GET")
	if got := body(t, resp); got != "event: tick\ndata: a\ndata: b\n\n" {
		t.Fatalf("event stream %q", got)
	}
}

func TestResponseHeaders(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := http.NewResponse(201).WithBodyString("made")
		r.Header = append(r.Header,
			http.Field{Name: "X-Ok", Value: "1"},
			http.Field{Name: "X-Bad", Value: "a\r\nInjected: yes"},
			http.Field{Name: "Bad Name", Value: "x"},
			http.Field{Name: "Content-Length", Value: "999"})
		r.Cookies = append(r.Cookies, http.Cookie{Name: "sid", Value: "a b", Path: "/", HTTPOnly: true})
		c.SendValue(r)
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := c.response("GET")
	if resp.StatusCode != 201 || body(t, resp) != "made" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("X-Ok") != "1" || resp.Header.Get("Injected") != "" || resp.Header.Get("X-Bad") != "" {
		t.Errorf("fields: %v", resp.Header)
	}
	if got := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(got, "sid=a%20b") || !strings.Contains(got, "HttpOnly") {
		t.Errorf("Set-Cookie %q", got)
	}
}

func TestSendWithoutRequestIsRefused(t *testing.T) {
	gotErr := make(chan error, 1)
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		c.SendString("first")
		_, err := c.SendValue(http.NewResponse(200))
		gotErr <- err
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := body(t, c.response("GET")); got != "first" {
		t.Fatalf("body %q", got)
	}
	if err := <-gotErr; err == nil {
		t.Fatal("a second response to one request was accepted")
	}
}

// TestTimeouts: a head that trickles in (slowloris) gets 408 and is closed
// after header_timeout; an idle keep-alive connection is closed after
// keepalive_timeout; a request being answered is never cut.
func TestTimeouts(t *testing.T) {
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		if m.Value.(*http.Request).Path() == "/slow" {
			time.AfterFunc(1500*time.Millisecond, func() { c.SendString("late") })
			return
		}
		c.SendString("ok")
	})
	w.HTTP.HeaderTimeout = 300 * time.Millisecond
	w.HTTP.KeepAliveTimeout = 500 * time.Millisecond
	addr := serve(t, w)

	slowloris := dial(t, addr)
	slowloris.send("GET / HTTP/1.1\r\nHost: x\r\n")
	done := make(chan struct{})
	go func() { // keep trickling: the deadline counts from the first byte
		defer close(done)
		for i := range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := fmt.Fprintf(slowloris.c, "X-%d: y\r\n", i); err != nil {
				return
			}
		}
	}()
	resp := slowloris.response("GET")
	if resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("slowloris got %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
	}
	<-done

	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	body(t, idle.response("GET"))
	start := time.Now()
	idle.expectEOF()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("idle keep-alive connection closed after %v, before keepalive_timeout", d)
	}

	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := body(t, busy.response("GET")); got != "late" {
		t.Fatalf("slow answer: %q", got)
	}
}
