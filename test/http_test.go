package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The HTTP tests talk to http:// workers with real clients: curl, wrk and
// Go's net/http. In CI (WORKERMAND_REQUIRE_TOOLS=1) a missing curl or wrk
// fails the test; elsewhere it skips it.

// needTool returns the path of an external client, or skips the test (fails
// it when WORKERMAND_REQUIRE_TOOLS=1) if the tool is not installed.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("WORKERMAND_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (WORKERMAND_REQUIRE_TOOLS=1) but not installed: %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}

// toolResult is how one run of an external client ended.
type toolResult struct {
	args        []string
	code        int
	out, errOut string
}

func (r toolResult) String() string {
	return fmt.Sprintf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.out, r.errOut)
}

// runTool runs an external client to completion (killed after timeout) and
// returns its exit code and output.
func runTool(t testing.TB, timeout time.Duration, bin string, args ...string) toolResult {
	t.Helper()
	return runToolInput(t, timeout, "", bin, args...)
}

// runToolInput is runTool with input on the client's stdin.
func runToolInput(t testing.TB, timeout time.Duration, input, bin string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := toolResult{args: append([]string{filepath.Base(bin)}, args...), out: out.String(), errOut: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("%s: still running after %s", strings.Join(r.args, " "), timeout)
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(r.args, " "), err)
	}
	return r
}

// curl runs curl with args, which must exit 0.
func curl(t testing.TB, args ...string) toolResult {
	t.Helper()
	bin := needTool(t, "curl")
	// --max-time bounds every transfer; -S shows errors despite -s.
	r := runTool(t, slow(30*time.Second), bin, append([]string{"--max-time", "20", "-sS"}, args...)...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// startHTTP starts a daemon running bin with the given workers and waits
// until worker name has count idle processes; it returns the daemon and
// that worker's host:port.
func startHTTP(t *testing.T, bin, name string, count int, workers ...string) (*daemon, string) {
	t.Helper()
	d := newDaemon(t, bin)
	d.writeConfig(workers...)
	d.start()
	st := d.waitReady(name, count)
	return d, st.addr(name)
}

// respondWorker is a respond worker on a free port answering "Hello,
// World!" with two extra header fields. The extra lines come first, so they
// may be worker keys or open another table such as [worker.http]; the
// options table comes last.
func respondWorker(name string, count int, extra ...string) string {
	lines := append(extra,
		"[worker.options]",
		"status = 200",
		`body = "Hello, World!"`,
		`content_type = "text/plain; charset=utf-8"`,
		`headers = { "X-Wm-Test" = "yes", "Cache-Control" = "no-store" }`,
	)
	return worker(name, "http://127.0.0.1:0", "respond", count, lines...)
}

const helloBody = "Hello, World!"

// rawExchange writes req on a new connection, half-closes nothing, and
// reads until the server closes the connection (bounded by a deadline, after
// which the test fails: the server kept the connection open).
func rawExchange(t testing.TB, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(slow(5 * time.Second)))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the answer to %q: %v after %q (the server should have closed the connection)", req, err, b)
	}
	return string(b)
}

// headerValue is the value of field name in a response head dumped by
// curl -i or -D - ("" when absent). Only the last head counts (after a 100).
func headerValue(head, name string) string {
	var v string
	for _, line := range strings.Split(head, "\r\n") {
		k, val, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.TrimSpace(val)
		}
	}
	return v
}

// A respond worker through curl: keep-alive reuse, HTTP/1.0 closes, a
// HTTP/1.1 response head as configured, HEAD without a body.
func TestHTTPRespondCurl(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	_, addr := startHTTP(t, stockBin, "hello", 1, respondWorker("hello", 1))
	url := "http://" + addr

	t.Run("keep-alive", func(t *testing.T) {
		// Two URLs in one invocation: the second reuses the connection.
		r := curl(t, "-v", "-w", "|%{http_code} %{num_connects}\n", url+"/a", url+"/b?x=1")
		want := helloBody + "|200 1\n" + helloBody + "|200 0\n"
		if r.out != want {
			t.Errorf("stdout %q, want %q (the second request should reuse the connection)\n%s", r.out, want, r.errOut)
		}
		if !strings.Contains(r.errOut, "Re-using existing connection") {
			t.Errorf("curl -v does not report reusing the connection:\n%s", r.errOut)
		}
	})

	t.Run("http1.0", func(t *testing.T) {
		// HTTP/1.0 without keep-alive: the server closes after each
		// response, so the second URL needs a second connection.
		r := curl(t, "--http1.0", "-v", "-w", "|%{http_code} %{num_connects}\n", url+"/a", url+"/b")
		want := helloBody + "|200 1\n" + helloBody + "|200 1\n"
		if r.out != want {
			t.Errorf("stdout %q, want %q (HTTP/1.0 must not keep the connection)\n%s", r.out, want, r.errOut)
		}
		// The same on a raw socket: the answer ends with the server's close.
		got := rawExchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.") || !strings.HasSuffix(got, "\r\n\r\n"+helloBody) {
			t.Errorf("HTTP/1.0 exchange: %q", got)
		}
	})

	t.Run("http1.1", func(t *testing.T) {
		r := curl(t, "--http1.1", "-i", url+"/")
		head, body, ok := strings.Cut(r.out, "\r\n\r\n")
		if !ok || !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || body != helloBody {
			t.Fatalf("response %q", r.out)
		}
		for k, want := range map[string]string{
			"Content-Length": strconv.Itoa(len(helloBody)),
			"Content-Type":   "text/plain; charset=utf-8",
			"X-Wm-Test":      "yes",
			"Cache-Control":  "no-store",
		} {
			if got := headerValue(head, k); got != want {
				t.Errorf("%s: %q, want %q in\n%s", k, got, want, head)
			}
		}
		if d, err := http.ParseTime(headerValue(head, "Date")); err != nil || time.Since(d).Abs() > time.Minute {
			t.Errorf("Date: %q (%v), want the current time in the HTTP format", headerValue(head, "Date"), err)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		r := curl(t, "-I", url+"/")
		if !strings.HasPrefix(r.out, "HTTP/1.1 200") || headerValue(r.out, "Content-Length") != strconv.Itoa(len(helloBody)) {
			t.Errorf("curl -I: %q; want 200 with the GET's Content-Length", r.out)
		}
		// curl does not read a HEAD's body, so check on the wire: a HEAD
		// then a GET on one connection come back as two heads and exactly
		// one body.
		got := rawExchange(t, addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		first, rest, _ := strings.Cut(got, "\r\n\r\n")
		if !strings.HasPrefix(first, "HTTP/1.1 200") || !strings.HasPrefix(rest, "HTTP/1.1 200") ||
			strings.Count(got, helloBody) != 1 || !strings.HasSuffix(got, "\r\n\r\n"+helloBody) {
			t.Errorf("HEAD then GET on one connection: %q; want a head without body, then the GET's response", got)
		}
	})
}

// staticTree is a document root with known files, next to a secret file
// that must never be served.
type staticTree struct {
	dir, root string
	small     []byte // small.txt, 1000 bytes
	big       []byte // big.bin, 1 MiB of random bytes
}

const (
	secretText = "TOP-SECRET-outside-the-root"
	plainPage  = "<p>PLAIN version</p>\n"
	gzipPage   = "<p>GZIP sibling</p>\n"
)

func newStaticTree(t *testing.T) *staticTree {
	t.Helper()
	dir := tempDir(t)
	s := &staticTree{dir: dir, root: filepath.Join(dir, "www")}
	for _, d := range []string{s.root, filepath.Join(s.root, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		s.small = append(s.small, byte('a'+i%26))
	}
	s.big = make([]byte, 1<<20)
	_, _ = rand.Read(s.big)
	// page.html.gz decompresses to something else than page.html, so the
	// test can tell which file was served.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(gzipPage))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"small.txt":     s.small,
		"big.bin":       s.big,
		"page.html":     []byte(plainPage),
		"page.html.gz":  gz.Bytes(),
		"sub/ok.txt":    []byte("ok\n"),
		"../secret.txt": []byte(secretText),
	} {
		if err := os.WriteFile(filepath.Join(s.root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(s.root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	return s
}

// A static worker through curl: ranges, conditional GETs, traversal
// attempts, a 1 MiB file intact and a precompressed sibling.
func TestHTTPStaticCurl(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	tree := newStaticTree(t)
	_, addr := startHTTP(t, stockBin, "files", 1, worker("files", "http://127.0.0.1:0", "static", 1,
		"[worker.options]", "root = "+strconv.Quote(tree.root)))
	url := "http://" + addr
	out := tempDir(t)

	t.Run("range", func(t *testing.T) {
		f := filepath.Join(out, "range")
		r := curl(t, "-r", "0-99", "-D", "-", "-o", f, url+"/small.txt")
		if !strings.HasPrefix(r.out, "HTTP/1.1 206") {
			t.Fatalf("range request: %q, want 206", r.out)
		}
		if got := headerValue(r.out, "Content-Range"); got != "bytes 0-99/1000" {
			t.Errorf("Content-Range %q, want bytes 0-99/1000", got)
		}
		if got, _ := os.ReadFile(f); !bytes.Equal(got, tree.small[:100]) {
			t.Errorf("range body %q, want the first 100 bytes %q", got, tree.small[:100])
		}
		r = curl(t, "-r", "990-", "-o", f, "-w", "%{http_code}", url+"/small.txt")
		if got, _ := os.ReadFile(f); r.out != "206" || !bytes.Equal(got, tree.small[990:]) {
			t.Errorf("open-ended range: status %s, body %q", r.out, got)
		}
		r = curl(t, "-r", "5000-6000", "-o", f, "-w", "%{http_code}", url+"/small.txt")
		if r.out != "416" {
			t.Errorf("range past the end: status %s, want 416", r.out)
		}
	})

	t.Run("etag", func(t *testing.T) {
		r := curl(t, "-D", "-", "-o", os.DevNull, url+"/small.txt")
		etag := headerValue(r.out, "ETag")
		if etag == "" || headerValue(r.out, "Last-Modified") == "" {
			t.Fatalf("no ETag or Last-Modified in %q", r.out)
		}
		f := filepath.Join(out, "etag")
		r = curl(t, "-H", "If-None-Match: "+etag, "-o", f, "-w", "%{http_code}", url+"/small.txt")
		if got, _ := os.ReadFile(f); r.out != "304" || len(got) != 0 {
			t.Errorf("If-None-Match with the ETag: status %s and %d body bytes, want 304 and none", r.out, len(got))
		}
		r = curl(t, "-H", `If-None-Match: "something-else"`, "-o", f, "-w", "%{http_code}", url+"/small.txt")
		if got, _ := os.ReadFile(f); r.out != "200" || !bytes.Equal(got, tree.small) {
			t.Errorf("If-None-Match with another tag: status %s, %d bytes; want 200 and the file", r.out, len(got))
		}
	})

	t.Run("traversal", func(t *testing.T) {
		for _, p := range []string{
			"/../secret.txt",
			"/%2e%2e/secret.txt",
			"/%2E%2E/secret.txt",
			"/sub/../../secret.txt",
			"/sub/%2e%2e/%2e%2e/secret.txt",
			"/..%2fsecret.txt",
			"/%2e%2e%2fsecret.txt",
			"/sub/..%2f..%2fsecret.txt",
			"/link.txt", // a symlink out of the root
		} {
			f := filepath.Join(out, "trav")
			r := curl(t, "--path-as-is", "-o", f, "-w", "%{http_code}", url+p)
			body, _ := os.ReadFile(f)
			if bytes.Contains(body, []byte(secretText)) {
				t.Errorf("GET %s served the file outside the root (status %s)", p, r.out)
			} else if r.out != "403" && r.out != "404" {
				t.Errorf("GET %s: status %s, want 403 or 404", p, r.out)
			}
		}
		// A legitimate ".." that stays inside the root is not the point
		// here; the same directory through "sub" must still work.
		if r := curl(t, "-w", "|%{http_code}", url+"/sub/ok.txt"); r.out != "ok\n|200" {
			t.Errorf("GET /sub/ok.txt: %q", r.out)
		}
	})

	t.Run("1MiB", func(t *testing.T) {
		f := filepath.Join(out, "big")
		r := curl(t, "-D", "-", "-o", f, url+"/big.bin")
		if got := headerValue(r.out, "Content-Length"); got != strconv.Itoa(len(tree.big)) {
			t.Errorf("Content-Length %q, want %d", got, len(tree.big))
		}
		got, _ := os.ReadFile(f)
		if sha256.Sum256(got) != sha256.Sum256(tree.big) {
			t.Errorf("the 1 MiB file came back altered: %d bytes, sha256 %x", len(got), sha256.Sum256(got))
		}
	})

	t.Run("precompressed", func(t *testing.T) {
		r := curl(t, "--compressed", "-i", url+"/page.html")
		head, body, _ := strings.Cut(r.out, "\r\n\r\n")
		if body != gzipPage || headerValue(head, "Content-Encoding") != "gzip" {
			t.Errorf("with Accept-Encoding: gzip: %q; want the .gz sibling (%q) with Content-Encoding: gzip", r.out, gzipPage)
		}
		if ct := headerValue(head, "Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("the .gz sibling's Content-Type %q, want the original's text/html", ct)
		}
		if v := headerValue(head, "Vary"); !strings.Contains(v, "Accept-Encoding") {
			t.Errorf("Vary %q, want Accept-Encoding", v)
		}
		r = curl(t, "-i", url+"/page.html")
		head, body, _ = strings.Cut(r.out, "\r\n\r\n")
		if body != plainPage || headerValue(head, "Content-Encoding") != "" {
			t.Errorf("without Accept-Encoding: %q; want the plain file", r.out)
		}
	})
}

// uploadedFile is one file in test/httpd's upload summary.
type uploadedFile struct {
	Field  string `json:"field"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error"`
}

// uploadSummary is test/httpd's upload handler's answer.
type uploadSummary struct {
	Files      []uploadedFile      `json:"files"`
	Form       map[string][]string `json:"form"`
	BodySize   int64               `json:"body_size"`
	BodySHA256 string              `json:"body_sha256"`
	Error      string              `json:"error"`
}

func decodeSummary(t testing.TB, data []byte) uploadSummary {
	t.Helper()
	var s uploadSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("upload handler's answer %q: %v", data, err)
	}
	return s
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// uploadWorker is test/httpd's upload handler writing uploads to dir.
func uploadWorker(name, dir string) string {
	return worker(name, "http://127.0.0.1:0", "upload", 1, "[worker.http]", "upload_dir = "+strconv.Quote(dir))
}

// Multipart uploads through curl -F: the handler sees each file's name,
// size and content, and the form fields; the temp files are gone once the
// response was sent.
func TestHTTPUploadCurl(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	dir := tempDir(t)
	uploads := filepath.Join(dir, "uploads")
	if err := os.Mkdir(uploads, 0o755); err != nil {
		t.Fatal(err)
	}
	_, addr := startHTTP(t, httpdBin, "up", 1, uploadWorker("up", uploads))

	a := make([]byte, 300<<10)
	_, _ = rand.Read(a)
	b := []byte("second file\n")
	writeFile(t, filepath.Join(dir, "a.bin"), string(a))
	writeFile(t, filepath.Join(dir, "b.txt"), string(b))
	r := curl(t, "-F", "file=@"+filepath.Join(dir, "a.bin"), "-F", "name=x", "-F", "other=@"+filepath.Join(dir, "b.txt")+";type=text/plain",
		"-F", "name=y", "http://"+addr+"/upload")
	s := decodeSummary(t, []byte(r.out))
	if s.Error != "" || len(s.Files) != 2 {
		t.Fatalf("upload summary: %+v", s)
	}
	slices.SortFunc(s.Files, func(x, y uploadedFile) int { return strings.Compare(x.Field, y.Field) })
	want := []struct {
		field, name, typ string
		data             []byte
	}{{"file", "a.bin", "", a}, {"other", "b.txt", "text/plain", b}}
	for i, w := range want {
		f := s.Files[i]
		if f.Field != w.field || f.Name != w.name || f.Size != int64(len(w.data)) || f.SHA256 != sha256Hex(w.data) || f.Error != "" {
			t.Errorf("file %d: %+v; want field %q, name %q, %d bytes, sha256 %s", i, f, w.field, w.name, len(w.data), sha256Hex(w.data))
		}
		if w.typ != "" && f.Type != w.typ {
			t.Errorf("file %d: type %q, want %q", i, f.Type, w.typ)
		}
		if filepath.Dir(f.Path) != uploads {
			t.Errorf("file %d was written to %s, not in upload_dir %s", i, f.Path, uploads)
		}
	}
	if got := s.Form["name"]; !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("form field name: %q, want [x y] (form: %v)", got, s.Form)
	}
	waitFor(t, slow(2*time.Second), "the upload temp files removed after the response", func() (bool, string) {
		left, _ := os.ReadDir(uploads)
		return len(left) == 0, fmt.Sprintf("%d files left in %s", len(left), uploads)
	})
}

// Go's net/http client: one keep-alive connection for 200 requests, a 1 MiB
// body, a chunked body of unknown length, Expect: 100-continue.
func TestHTTPGoClient(t *testing.T) {
	t.Parallel()
	dir := tempDir(t)
	d, _ := startHTTP(t, httpdBin, "up", 1, respondWorker("hello", 1), uploadWorker("up", dir))
	st := d.waitReady("hello", 1)
	helloURL, upURL := "http://"+st.addr("hello")+"/", "http://"+st.addr("up")+"/"
	tr := &http.Transport{MaxIdleConnsPerHost: 1, ExpectContinueTimeout: 5 * time.Second, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: slow(20 * time.Second)}

	t.Run("keep-alive", func(t *testing.T) {
		var conns []string
		reused := 0
		for i := range 200 {
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
				if a := info.Conn.LocalAddr().String(); !slices.Contains(conns, a) {
					conns = append(conns, a)
				}
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", helloURL+"?i="+strconv.Itoa(i), nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(body) != helloBody {
				t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, err)
			}
		}
		if reused != 199 || len(conns) != 1 {
			t.Errorf("200 sequential requests: %d reused a connection, %d connections (%v); want 199 and 1", reused, len(conns), conns)
		}
	})

	// post sends body to the upload handler, which reports the length and
	// hash of what it read, and whether a 100 Continue came first.
	post := func(t *testing.T, body io.Reader, length int64, header map[string]string) (uploadSummary, bool) {
		t.Helper()
		got100 := new(bool)
		trace := &httptrace.ClientTrace{Got100Continue: func() { *got100 = true }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", upURL, body)
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/octet-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST: %d %q %v", resp.StatusCode, data, err)
		}
		return decodeSummary(t, data), *got100
	}
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)

	t.Run("1MiB body", func(t *testing.T) {
		s, _ := post(t, bytes.NewReader(big), int64(len(big)), nil)
		if s.BodySize != int64(len(big)) || s.BodySHA256 != sha256Hex(big) {
			t.Errorf("the server read %d bytes with sha256 %s; want %d, %s", s.BodySize, s.BodySHA256, len(big), sha256Hex(big))
		}
	})

	t.Run("chunked body", func(t *testing.T) {
		// A reader of unknown length (not a *bytes.Reader) with
		// ContentLength -1: net/http sends it chunked.
		body := io.MultiReader(bytes.NewReader(big[:1000]), bytes.NewReader(big[1000:300000]))
		s, _ := post(t, body, -1, nil)
		if s.BodySize != 300000 || s.BodySHA256 != sha256Hex(big[:300000]) {
			t.Errorf("chunked POST: the server read %d bytes with sha256 %s; want 300000, %s", s.BodySize, s.BodySHA256, sha256Hex(big[:300000]))
		}
	})

	t.Run("100-continue", func(t *testing.T) {
		s, got100 := post(t, bytes.NewReader(big[:65536]), 65536, map[string]string{"Expect": "100-continue"})
		if !got100 {
			t.Errorf("no 100 Continue before the body was sent")
		}
		if s.BodySize != 65536 || s.BodySHA256 != sha256Hex(big[:65536]) {
			t.Errorf("POST with Expect: 100-continue: the server read %d bytes, sha256 %s", s.BodySize, s.BodySHA256)
		}
	})
}

// wrkStats is what wrk's report says.
type wrkStats struct {
	requests                      int64
	connect, read, write, timeout int64
	non2xx                        int64
	report                        string
}

var (
	wrkRequestsRE = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkSocketRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report; the error lines are absent when there were
// none.
func parseWrk(out string) (wrkStats, error) {
	s := wrkStats{report: out}
	m := wrkRequestsRE.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("no request count in wrk's report:\n%s", out)
	}
	s.requests, _ = strconv.ParseInt(m[1], 10, 64)
	if m := wrkSocketRE.FindStringSubmatch(out); m != nil {
		for i, p := range []*int64{&s.connect, &s.read, &s.write, &s.timeout} {
			*p, _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	if m := wrkNon2xxRE.FindStringSubmatch(out); m != nil {
		s.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return s, nil
}

func (s wrkStats) String() string {
	return fmt.Sprintf("%d requests, socket errors: connect %d, read %d, write %d, timeout %d; non-2xx/3xx %d",
		s.requests, s.connect, s.read, s.write, s.timeout, s.non2xx)
}

// failed reports whether wrk saw any socket error or error status.
func (s wrkStats) failed() bool {
	return s.connect+s.read+s.write+s.timeout+s.non2xx > 0
}

// pipelineLua makes every write of wrk carry 16 requests (the TechEmpower
// pipelining benchmark).
const pipelineLua = `
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
`

// wrk smoke tests against a respond worker: plain keep-alive and 16-deep
// pipelining, neither with an error.
func TestHTTPWrk(t *testing.T) {
	t.Parallel()
	bin := needTool(t, "wrk")
	_, addr := startHTTP(t, stockBin, "hello", 1, respondWorker("hello", 1))
	script := filepath.Join(tempDir(t), "pipeline.lua")
	writeFile(t, script, pipelineLua)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"keep-alive", []string{"-t1", "-c50", "-d2s"}},
		{"pipelined", []string{"-t1", "-c50", "-d2s", "-s", script}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runTool(t, slow(30*time.Second), bin, append(c.args, "--timeout", "10s", "http://"+addr+"/")...)
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
			s, err := parseWrk(r.out)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("wrk %s: %s", c.name, s)
			if s.requests == 0 || s.failed() {
				t.Errorf("wrk %s: %s\n%s", c.name, s, s.report)
			}
		})
	}
}

// [worker.http] is checked like the rest of the file: a bare number for a
// duration and an unknown key are reported with file, line and key, and
// the table on a worker that does not speak HTTP is refused.
func TestHTTPConfigCheck(t *testing.T) {
	t.Parallel()
	const name = "http-bad-table.toml"
	dir := configCase(t, name)
	r := runBin(t, stockBin, dir, nil, time.Minute, "check", "-c", name)
	if r.code != 2 {
		t.Fatalf("check: %s; want exit 2", r)
	}
	path := filepath.Join(dir, name)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(path+":10: worker[0].http.header_timeout: ") + `.*unit`),
		regexp.MustCompile(regexp.QuoteMeta(path+":11: worker[0].http.keepalive_timout: unknown key") + `.*keepalive_timeout`),
		regexp.MustCompile(regexp.QuoteMeta(path+":17: worker[1].http") + `.*http://`),
	} {
		if !want.MatchString(r.err) {
			t.Errorf("check's message does not match %s:\n%s", want, r.err)
		}
	}
}

// The access log: a combined line per request, flushed within a second or
// two; reopen after a rename sends new lines to a new file.
func TestHTTPAccessLog(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	dir := tempDir(t)
	logPath := filepath.Join(dir, "access.log")
	d, addr := startHTTP(t, stockBin, "hello", 1, respondWorker("hello", 1,
		"[worker.http]", "access_log = "+strconv.Quote(logPath), `access_log_format = "combined"`))
	url := "http://" + addr
	// host ident user [time] "request" status bytes "referer" "agent"
	line := func(path, agent string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[[^\]]+\] "GET ` + regexp.QuoteMeta(path) + ` HTTP/1\.1" 200 ` +
			strconv.Itoa(len(helloBody)) + ` "https://ref\.example/" "` + regexp.QuoteMeta(agent) + `"$`)
	}
	waitLine := func(path string, re *regexp.Regexp) {
		t.Helper()
		waitFor(t, slow(3*time.Second), "the access log line in "+filepath.Base(path), func() (bool, string) {
			b, _ := os.ReadFile(path)
			return re.Match(b), fmt.Sprintf("%s holds %q", filepath.Base(path), b)
		})
	}

	curl(t, "-A", "wmtest/1", "-e", "https://ref.example/", "-o", os.DevNull, url+"/before?x=1")
	first := line("/before?x=1", "wmtest/1")
	waitLine(logPath, first)

	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	d.mustRun(0, "reopen")
	curl(t, "-A", "wmtest/2", "-e", "https://ref.example/", "-o", os.DevNull, url+"/after")
	second := line("/after", "wmtest/2")
	waitLine(logPath, second)
	if b, _ := os.ReadFile(logPath); first.Match(b) {
		t.Errorf("the new access log holds the line written before the rename:\n%s", b)
	}
	if b, _ := os.ReadFile(rotated); second.Match(b) || !first.Match(b) {
		t.Errorf("the renamed access log should hold only the first line:\n%s", b)
	}
}
