package httpproto_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

// TestFileResponses sends file bodies (sendfile) between ordinary responses
// on one pipelined connection: every byte must arrive, in order.
func TestFileResponses(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	path := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, newWorker(func(c *workerman.Connection, m workerman.Message) {
		r := m.Value.(*http.Request)
		switch r.Path() {
		case "/file":
			c.SendValue(http.NewResponse(200).WithFile(path, 0, 0))
		case "/part":
			c.SendValue(http.NewResponse(200).WithFile(path, 1000, 5000))
		case "/missing":
			c.SendValue(http.NewResponse(200).WithFile(filepath.Join(dir, "nope"), 0, 0))
		default:
			c.SendString("small")
		}
	}))
	c := dial(t, addr)
	req := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	c.send(req("/a") + req("/file") + req("/b") + req("/part") + req("/missing") + req("/c") + "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n" + req("/d"))
	check := func(method, want string, wantBody []byte, status int) {
		t.Helper()
		resp := c.response(method)
		got := body(t, resp)
		if resp.StatusCode != status {
			t.Fatalf("%s: status %d, want %d", want, resp.StatusCode, status)
		}
		if wantBody != nil && !bytes.Equal([]byte(got), wantBody) {
			t.Fatalf("%s: %d bytes differ from the %d expected", want, len(got), len(wantBody))
		}
		if wantBody == nil && got != want {
			t.Fatalf("body %q, want %q", got, want)
		}
	}
	check("GET", "small", nil, 200)
	check("GET", "file", big, 200)
	check("GET", "small", nil, 200)
	check("GET", "part", big[1000:6000], 206) // Workerman: an offset or length makes it a 206
	check("GET", "<h3>404 Not Found</h3>", nil, 404)
	check("GET", "small", nil, 200)
	head := c.response("HEAD")
	if head.ContentLength != int64(len(big)) {
		t.Fatalf("HEAD of the file: Content-Length %d, want %d", head.ContentLength, len(big))
	}
	body(t, head)
	check("GET", "small", nil, 200)
	_ = strconv.Itoa
}
