package httpproto_test

import (
	"io"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// A handler that panics before answering gets its client a 500 and a
// close, not an empty reply; one that began a streamed answer has it cut.
// Either way the panic is counted and the process serves on.
func TestPanickingHandlerAnswers500(t *testing.T) {
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		switch m.Value.(*http.Request).Path() {
		case "/panic":
			panic("handler failed")
		case "/half":
			c.SendValue(http.NewResponse(200).WithHeader("Transfer-Encoding", "chunked"))
			c.SendValue(http.Chunk("part"))
			panic("handler failed mid-stream")
		}
		c.SendString("ok")
	})
	p := workermantest.Start(t, w)
	addr := w.Addr().String()

	c := dial(t, addr)
	c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := body(t, c.response("GET")); got != "ok" {
		t.Fatalf("first request: %q", got)
	}
	c.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := c.response("GET")
	if resp.StatusCode != 500 || !resp.Close || !strings.Contains(body(t, resp), "500 Internal Server Error") {
		t.Fatalf("after the panic: %d close=%v, want a 500 that closes", resp.StatusCode, resp.Close)
	}
	c.expectEOF()

	c = dial(t, addr)
	c.send("HEAD /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp := c.response("HEAD"); resp.StatusCode != 500 || resp.ContentLength <= 0 {
		t.Fatalf("HEAD after the panic: %d, Content-Length %d, want a 500 without its body", resp.StatusCode, resp.ContentLength)
	}
	c.expectEOF()

	// What the handler wrote in the callback that panicked is dropped
	// with it: no 500 can follow a head already given, so the client sees
	// the connection end without a complete answer.
	c = dial(t, addr)
	c.send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := nethttp.ReadResponse(c.br, nil); err == nil {
		b, err := io.ReadAll(resp.Body)
		if err == nil || resp.StatusCode == 500 {
			t.Fatalf("a streamed answer cut by a panic: %d %q read as complete", resp.StatusCode, b)
		}
	}

	c = dial(t, addr)
	c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := body(t, c.response("GET")); got != "ok" {
		t.Fatalf("after the panics: %q", got)
	}
	if n := workermantest.OnLoopValue(t, p.Loop(), func() uint64 { return p.Loop().Stats().Exceptions }); n != 3 {
		t.Fatalf("exceptions counted: %d, want 3", n)
	}
}
