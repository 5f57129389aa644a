package httpproto_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// rawAnswer sends req on a new connection and reads until the server
// closes it, returning everything it sent.
func rawAnswer(t *testing.T, addr, req string) []byte {
	t.Helper()
	c := dial(t, addr)
	c.send(req)
	b, err := io.ReadAll(c.br)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading the answer to %q: %v (read %q)", req, err, b)
	}
	return b
}

// splitAnswer cuts one answer into its status, its Content-Length field
// and what follows the head.
func splitAnswer(t *testing.T, b []byte) (status, length int, content []byte) {
	t.Helper()
	head, content, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no complete head in %q", b)
	}
	lines := strings.Split(string(head), "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 || f[0] != "HTTP/1.1" {
		t.Fatalf("status line %q", lines[0])
	}
	status, _ = strconv.Atoi(f[1])
	length = -1
	for _, l := range lines[1:] {
		if k, v, _ := strings.Cut(l, ":"); strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return status, length, content
}

// TestHeadRefusalsHaveNoContent: a HEAD answered with an error gets the
// head a GET would get, Content-Length included, and no content, whatever
// made the request fail (RFC 9110 §9.3.2); the connection closes after it.
func TestHeadRefusalsHaveNoContent(t *testing.T) {
	w := newWorker(func(c *workerman.Connection, m workerman.Message) { c.SendString("ok") })
	w.MaxPackageSize = 4096
	w.HTTP.HeaderTimeout = 300 * time.Millisecond
	w.HTTP.BodyTimeout = 300 * time.Millisecond
	addr := serve(t, w)
	// Each request starts with the method, replaced by GET for the
	// comparison.
	cases := []struct {
		name, req string
		status    int
	}{
		{"malformed field", "HEAD / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400},
		{"bare LF", "HEAD / HTTP/1.1\nHost: x\n\n", 400},
		{"no Host", "HEAD / HTTP/1.1\r\n\r\n", 400},
		{"bad chunk", "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
		{"Content-Length over max_package_size", "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
		{"chunked over max_package_size", "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("400\r\n"+strings.Repeat("a", 1024)+"\r\n", 5), 413},
		{"head over max_header_bytes", "HEAD / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 17000) + "\r\n\r\n", 431},
		{"unknown transfer coding", "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"HTTP/2.0", "HEAD / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"head too slow", "HEAD / HTTP/1.1\r\nHost: x\r\n", 408},
		{"body stalled", "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 408},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, length, content := splitAnswer(t, rawAnswer(t, addr, tc.req))
			if status != tc.status || len(content) != 0 {
				t.Fatalf("HEAD: %d with content %q; want %d without content", status, content, tc.status)
			}
			getStatus, getLength, getContent := splitAnswer(t, rawAnswer(t, addr, "GET"+strings.TrimPrefix(tc.req, "HEAD")))
			if getStatus != tc.status || getLength != len(getContent) || getLength <= 0 {
				t.Fatalf("GET: %d, Content-Length %d, content %q", getStatus, getLength, getContent)
			}
			if length != getLength {
				t.Errorf("HEAD's Content-Length %d, the GET's %d", length, getLength)
			}
		})
	}
}

// TestLaterMinorVersion: HTTP/1.2 is handled as HTTP/1.1 (RFC 9110 §2.5):
// answered with HTTP/1.1, kept alive, seen by the handler as 1.1; a major
// version other than 1 is still refused with 505.
func TestLaterMinorVersion(t *testing.T) {
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		c.SendString("v" + m.Value.(*http.Request).ProtocolVersion())
	}))
	c := dial(t, addr)
	for range 2 {
		c.send("GET / HTTP/1.2\r\nHost: x\r\n\r\n")
		resp := c.response("GET")
		if got := body(t, resp); resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || got != "v1.1" || resp.Close {
			t.Fatalf("HTTP/1.2: %s %d %q close=%v; want HTTP/1.1 200 \"v1.1\", kept alive", resp.Proto, resp.StatusCode, got, resp.Close)
		}
	}
	for _, v := range []string{"HTTP/2.0", "HTTP/3.0", "HTTP/3.1", "HTTP/0.9"} {
		status, _, _ := splitAnswer(t, rawAnswer(t, addr, "GET / "+v+"\r\nHost: x\r\n\r\n"))
		if status != 505 {
			t.Errorf("%s: %d, want 505", v, status)
		}
	}
}

// TestBodyTimeout: header_timeout covers the head only; a body may take
// longer in all as long as no pause reaches body_timeout, and one that
// stalls longer is answered 408 and closed.
func TestBodyTimeout(t *testing.T) {
	w := newWorker(func(c *workerman.Connection, m workerman.Message) {
		c.SendString(strconv.Itoa(len(m.Value.(*http.Request).RawBody())))
	})
	w.HTTP.HeaderTimeout = 300 * time.Millisecond
	w.HTTP.BodyTimeout = 1500 * time.Millisecond
	addr := serve(t, w)

	for _, chunked := range []bool{false, true} {
		c := dial(t, addr)
		const pieces, size = 12, 1000
		if chunked {
			c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		} else {
			c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(pieces*size) + "\r\n\r\n")
		}
		start := time.Now()
		for range pieces {
			time.Sleep(100 * time.Millisecond)
			p := strings.Repeat("x", size)
			if chunked {
				p = strconv.FormatInt(size, 16) + "\r\n" + p + "\r\n"
			}
			c.send(p)
		}
		if chunked {
			c.send("0\r\n\r\n")
		}
		if took := time.Since(start); took < 3*w.HTTP.HeaderTimeout {
			t.Fatalf("the body took only %s", took)
		}
		resp := c.response("POST")
		if got := body(t, resp); resp.StatusCode != 200 || got != strconv.Itoa(pieces*size) {
			t.Fatalf("slow body (chunked %v): %d %q, want 200 and all %d bytes", chunked, resp.StatusCode, got, pieces*size)
		}
	}

	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
	start := time.Now()
	resp := c.response("POST")
	if resp.StatusCode != 408 || !resp.Close {
		t.Fatalf("stalled body: %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
	}
	if took := time.Since(start); took < w.HTTP.BodyTimeout-200*time.Millisecond {
		t.Fatalf("408 after %s, before body_timeout", took)
	}
	body(t, resp)
	c.expectEOF()
}
