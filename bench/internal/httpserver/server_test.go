package httpserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/workermand/workermand/bench/internal/serve"
)

// startGnet runs the gnet server on a free loopback port for one test.
func startGnet(t *testing.T) string { return serve.InTest(t, "gnet", ServeGnet) }

func startNet(t *testing.T, root string) string {
	return serve.InTest(t, "net/http", func(ctx context.Context, addr string, ready func()) error {
		return ListenAndServeNetHTTP(ctx, addr, root, ready)
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// readHello reads one response from r and checks it is the hello world.
func readHello(t *testing.T, r *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != 200 || string(body) != Body || resp.Header.Get("Content-Type") != ContentType {
		t.Fatalf("got %d %q %q, want 200 %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, ContentType, Body)
	}
	if _, err := time.Parse(http.TimeFormat, resp.Header.Get("Date")); err != nil {
		t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
	}
	return resp
}

func TestServersAnswerPipelinedRequestsInOrder(t *testing.T) {
	for name, addr := range map[string]func(*testing.T) string{
		"gnet": startGnet,
		"net":  func(t *testing.T) string { return startNet(t, "") },
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr(t))
			req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
			// 16 in one write, like wrk's pipelined script, then one
			// request split across writes at an awkward place.
			if _, err := io.WriteString(c, strings.Repeat(req, 16)+req[:17]); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			for range 16 {
				readHello(t, r)
			}
			time.Sleep(20 * time.Millisecond) // let the partial head reach the server alone
			if _, err := io.WriteString(c, req[17:]); err != nil {
				t.Fatal(err)
			}
			readHello(t, r)
			if r.Buffered() != 0 {
				t.Fatalf("%d extra bytes after 17 responses", r.Buffered())
			}
		})
	}
}

func TestGnetClosesWhenAskedOrWhenItCannotFollow(t *testing.T) {
	addr := startGnet(t)
	for _, tc := range []struct{ name, req string }{
		{"connection: close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.req+"GET / HTTP/1.1\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			readHello(t, r)
			if n, err := r.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the last response: %d bytes, %v; want EOF", n, err)
			}
		})
	}
	t.Run("answers what came before a request with a body, then closes", func(t *testing.T) {
		c := dial(t, addr)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nGET"); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		readHello(t, r)
		if n, err := r.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after the response: %d bytes, %v; want EOF", n, err)
		}
	})
}

func TestNetServesFilesUnderRoot(t *testing.T) {
	dir := t.TempDir()
	want := strings.Repeat("x", 4096)
	if err := os.WriteFile(filepath.Join(dir, "4k.bin"), []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startNet(t, dir)
	resp, err := http.Get("http://" + addr + "/4k.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(got) != want {
		t.Fatalf("got %d, %d bytes, %v", resp.StatusCode, len(got), err)
	}
}
