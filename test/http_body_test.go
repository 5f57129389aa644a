package test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procMem is a process's peak and current resident set (VmHWM, VmRSS) in
// bytes, from /proc/PID/status.
func procMem(t testing.TB, pid int) (hwm, rss int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the child's memory: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s in /proc/%d/status: %q", k, pid, line)
		}
		if k == "VmHWM" {
			hwm = n << 10
		} else {
			rss = n << 10
		}
	}
	if hwm == 0 || rss == 0 {
		t.Fatalf("no VmHWM/VmRSS in /proc/%d/status", pid)
	}
	return hwm, rss
}

// httpConn is one raw keep-alive connection to an http:// worker.
type httpConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialHTTP(t testing.TB, addr string) *httpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(slow(60 * time.Second)))
	return &httpConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (h *httpConn) write(b []byte) {
	h.t.Helper()
	if _, err := h.c.Write(b); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

// response reads one response to a request of the given method, with its body.
func (h *httpConn) response(method string) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := http.ReadResponse(h.br, &http.Request{Method: method})
	if err != nil {
		h.t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("reading the response body: %v", err)
	}
	return resp, b
}

// expectClosed waits for the server to close the connection, with nothing
// more to read.
func (h *httpConn) expectClosed() {
	h.t.Helper()
	_ = h.c.SetReadDeadline(time.Now().Add(slow(10 * time.Second)))
	b, err := io.ReadAll(h.br)
	if err != nil && !isReset(err) {
		h.t.Fatalf("waiting for the close: %v (read %q)", err, b)
	}
	if len(b) > 0 {
		h.t.Fatalf("expected the connection closed, got %q", b)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// postHead is the head of a POST to the upload handler with a
// Content-Length body.
func postHead(n int) []byte {
	return fmt.Appendf(nil, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", n)
}

// checkSummary asserts that the upload handler got exactly body.
func checkSummary(t testing.TB, resp *http.Response, got []byte, body []byte) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%q), want 200", resp.StatusCode, got)
	}
	var s uploadSummary
	if err := json.Unmarshal(got, &s); err != nil {
		t.Fatalf("upload handler's answer %q: %v", got, err)
	}
	if s.BodySize != int64(len(body)) || s.BodySHA256 != sha256Hex(body) {
		t.Fatalf("the handler got %d bytes (sha256 %s); sent %d (sha256 %s)", s.BodySize, s.BodySHA256, len(body), sha256Hex(body))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// header_timeout bounds the head only and body_timeout the pauses within a
// body: an upload slower than header_timeout in total is served whole; a
// body that stops for longer than body_timeout is answered 408 and closed;
// a head that trickles (slowloris) still gets 408.
func TestHTTPBodyTimeouts(t *testing.T) {
	t.Parallel()
	const headerTimeout, bodyTimeout = 1 * time.Second, 2 * time.Second
	_, addr := startHTTP(t, httpdBin, "up", 1, worker("up", "http://127.0.0.1:0", "upload", 1,
		"[worker.http]", fmt.Sprintf("header_timeout = %q", headerTimeout), fmt.Sprintf("body_timeout = %q", bodyTimeout)))

	t.Run("slow upload", func(t *testing.T) {
		t.Parallel()
		// 20 pieces, one every 250 ms: about 5 s in all, five times
		// header_timeout, and no pause near body_timeout.
		body := randomBytes(20 * 4096)
		h := dialHTTP(t, addr)
		h.write(postHead(len(body)))
		start := time.Now()
		for p := range slices.Chunk(body, 4096) {
			time.Sleep(250 * time.Millisecond)
			h.write(p)
		}
		if took := time.Since(start); took < 3*headerTimeout {
			t.Fatalf("the upload took %s, not several times header_timeout: the test proves nothing", took)
		}
		resp, got := h.response("POST")
		checkSummary(t, resp, got, body)
		// The connection is still good for another request.
		h.write(append(postHead(3), "abc"...))
		resp, got = h.response("POST")
		checkSummary(t, resp, got, []byte("abc"))
	})

	t.Run("stalled body", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ name, head, part string }{
			{"content-length", string(postHead(1000)), strings.Repeat("a", 500)},
			{"chunked", "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "1f4\r\n" + strings.Repeat("a", 500) + "\r\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				h := dialHTTP(t, addr)
				h.write([]byte(tc.head + tc.part))
				start := time.Now()
				resp, got := h.response("POST")
				took := time.Since(start)
				if resp.StatusCode != 408 || !resp.Close {
					t.Fatalf("a stalled body got %d (%q) close=%v; want 408 and close", resp.StatusCode, got, resp.Close)
				}
				if took < bodyTimeout-200*time.Millisecond {
					t.Fatalf("408 after a pause of %s, shorter than body_timeout %s", took, bodyTimeout)
				}
				h.expectClosed()
			})
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		t.Parallel()
		h := dialHTTP(t, addr)
		h.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
		got := make(chan struct{})
		go func() {
			// A field every 200 ms: never idle long, but the head never ends.
			for i := 0; ; i++ {
				select {
				case <-got:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := fmt.Fprintf(h.c, "X-%d: y\r\n", i); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		resp, body := h.response("GET")
		close(got)
		if resp.StatusCode != 408 || !resp.Close {
			t.Fatalf("slowloris got %d (%q) close=%v; want 408 and close", resp.StatusCode, body, resp.Close)
		}
		// Timeouts are checked about once a second.
		if took := time.Since(start); took > slow(headerTimeout+4*time.Second) {
			t.Errorf("slowloris answered after %s: header_timeout is %s", took, headerTimeout)
		}
	})
}

// A request body costs the child about its size in memory, whatever its
// framing, and the memory goes once the request is answered: a chunked body
// that never ends is refused with 413, and it and three accepted bodies of
// almost max_package_size (10 MiB by default) on connections left open
// afterwards keep the child's peak resident set (VmHWM) under twice
// max_package_size; its resident set then comes back down.
func TestHTTPBodyMemory(t *testing.T) {
	if raceBinaries {
		t.Skip("the race runtime's shadow memory and the poisoned copies of race builds make resident sizes meaningless")
	}
	t.Parallel()
	const maxPkg = 10 << 20
	d, addr := startHTTP(t, httpdBin, "up", 1, worker("up", "http://127.0.0.1:0", "upload", 1))
	pid := d.mustStatus().procs("up")[0].PID

	// Warm up: what the first requests allocate once is not what is measured.
	h := dialHTTP(t, addr)
	small := randomBytes(100 << 10)
	for range 3 {
		h.write(append(postHead(len(small)), small...))
		resp, got := h.response("POST")
		checkSummary(t, resp, got, small)
	}
	hwm0, rss0 := procMem(t, pid)
	t.Logf("before: VmHWM %d KiB, VmRSS %d KiB", hwm0>>10, rss0>>10)

	t.Run("chunked flood", func(t *testing.T) {
		h := dialHTTP(t, addr)
		h.write([]byte("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"))
		type answer struct {
			resp *http.Response
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := http.ReadResponse(h.br, &http.Request{Method: "POST"})
			answered <- answer{resp, err}
		}()
		chunk := append(append([]byte("10000\r\n"), bytes.Repeat([]byte("x"), 0x10000)...), "\r\n"...)
		sent := 0
		var a answer
	flood:
		for sent < 1<<30 {
			select {
			case a = <-answered:
				break flood
			default:
			}
			if _, err := h.c.Write(chunk); err != nil {
				a = <-answered // the server refused and closed: its answer is read
				break
			}
			sent += len(chunk)
		}
		if a.err != nil {
			t.Fatalf("no answer to the flood after %d bytes: %v", sent, a.err)
		}
		a.resp.Body.Close()
		if a.resp.StatusCode != 413 {
			t.Fatalf("a chunked body that never ends got %d after %d bytes; want 413", a.resp.StatusCode, sent)
		}
		if sent >= 1<<30 {
			t.Fatalf("the whole GiB was accepted before the 413")
		}
		hwm, rss := procMem(t, pid)
		t.Logf("after the flood (%d MiB sent): VmHWM +%d KiB, VmRSS +%d KiB", sent>>20, (hwm-hwm0)>>10, (rss-rss0)>>10)
		if hwm-hwm0 >= 2*maxPkg {
			t.Errorf("the flood raised the child's peak memory by %d KiB, not under twice max_package_size (%d KiB)", (hwm-hwm0)>>10, 2*maxPkg>>10)
		}
	})

	t.Run("large bodies", func(t *testing.T) {
		// Three bodies just under max_package_size, one after the other on
		// three connections that stay open: each would hold its buffer if an
		// idle connection kept it.
		body := randomBytes(maxPkg - 4096)
		for i := range 3 {
			h := dialHTTP(t, addr)
			h.write(postHead(len(body)))
			h.write(body)
			resp, got := h.response("POST")
			checkSummary(t, resp, got, body)
			hwm, rss := procMem(t, pid)
			t.Logf("after body %d: VmHWM +%d KiB, VmRSS +%d KiB", i+1, (hwm-hwm0)>>10, (rss-rss0)>>10)
		}
		hwm, _ := procMem(t, pid)
		if hwm-hwm0 >= 2*maxPkg {
			t.Errorf("three bodies of %d KiB raised the child's peak memory by %d KiB, not under twice max_package_size (%d KiB)", len(body)>>10, (hwm-hwm0)>>10, 2*maxPkg>>10)
		}
	})

	t.Run("given back", func(t *testing.T) {
		// The connections are still open, idle: they hold no body buffer,
		// and unused free buffers go back to the kernel within seconds.
		// What stays is the runtime's own growth (a few MiB, 3.3 in one CI
		// run), well under one body.
		took := waitFor(t, slow(30*time.Second), "the child's resident memory back near where it was", func() (bool, string) {
			_, rss := procMem(t, pid)
			return rss-rss0 < maxPkg/2, fmt.Sprintf("VmRSS +%d KiB", (rss-rss0)>>10)
		})
		_, rss := procMem(t, pid)
		t.Logf("after %s idle: VmRSS +%d KiB", took.Round(time.Second), (rss-rss0)>>10)
	})
}

// body_timeout is checked like the other [worker.http] durations: a bare
// number is reported with file, line and key by `check`, a duration passes.
func TestHTTPBodyTimeoutCheck(t *testing.T) {
	t.Parallel()
	dir := tempDir(t)
	cfg := func(value string) string {
		return "pid_file = \"run.pid\"\ncontrol_socket = \"run.sock\"\n" +
			worker("web", "http://127.0.0.1:0", "respond", 1, "[worker.http]", `header_timeout = "5s"`, "body_timeout = "+value)
	}
	bad := filepath.Join(dir, "bad.toml")
	writeFile(t, bad, cfg("30"))
	r := runBin(t, stockBin, dir, nil, time.Minute, "check", "-c", bad)
	want := regexp.MustCompile(regexp.QuoteMeta(bad+":11: worker[0].http.body_timeout: ") + `.*unit`)
	if r.code != 2 || !want.MatchString(r.err) {
		t.Fatalf("check of body_timeout = 30: %s; want exit 2 and a message matching %s", r, want)
	}
	good := filepath.Join(dir, "good.toml")
	writeFile(t, good, cfg(`"90s"`))
	if r := runBin(t, stockBin, dir, nil, time.Minute, "check", "-c", good); r.code != 0 {
		t.Fatalf("check of body_timeout = \"90s\": %s; want exit 0", r)
	}
}
