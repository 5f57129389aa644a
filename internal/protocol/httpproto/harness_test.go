package httpproto_test

import (
	"bufio"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// serve runs w (listening on an http:// address on 127.0.0.1, port 0) in a
// Process until the test ends and returns its address.
func serve(t *testing.T, w *workerman.Worker) string {
	t.Helper()
	workermantest.Start(t, w)
	return w.Addr().String()
}

// newWorker is an http:// worker on a free loopback port.
func newWorker(onMessage func(c *workerman.Connection, m workerman.Message)) *workerman.Worker {
	w := workerman.NewWorker("http://127.0.0.1:0")
	w.Name = "http-test"
	w.OnMessage = onMessage
	return w
}

// client is one raw TCP connection with a reader for responses.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c := workermantest.DialAddr(t, addr)
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response to a request with the given method.
func (c *client) response(method string) *nethttp.Response {
	c.t.Helper()
	resp, err := nethttp.ReadResponse(c.br, &nethttp.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp
}

// body reads and closes resp's body.
func body(t *testing.T, resp *nethttp.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// expectEOF asserts the server closes the connection with nothing more to
// read.
func (c *client) expectEOF() {
	c.t.Helper()
	b, err := io.ReadAll(c.br)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("waiting for EOF: %v (read %q)", err, b)
	}
	if len(b) > 0 {
		c.t.Fatalf("expected EOF, got %q", b)
	}
}
