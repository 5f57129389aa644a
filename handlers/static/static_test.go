package static

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
	"github.com/workermand/workermand/workerman/workermantest"
)

// tree builds a served root and, beside it, a directory that must never
// be reachable.
func tree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	files := map[string]string{
		"root/index.html":         "home",
		"root/a.txt":              "A",
		"root/app.js":             "JS",
		"root/app.js.gz":          "GZ",
		"root/app.js.br":          "BR",
		"root/only-gz.css":        "CSS",
		"root/only-gz.css.gz":     "CSSGZ",
		"root/sub/b.txt":          "B",
		"root/sub/<x>&.txt":       "X",
		"root/sub/.hidden":        "H",
		"root/docs/index.html":    "docs",
		"root/.secret":            "S",
		"root/.well-known/x.txt":  "W",
		"root/space name.txt":     "SP",
		"outside/secret.txt":      "TOP SECRET",
		"outside/dir/inner.txt":   "INNER",
		"root/sub/deeper/c.txt":   "C",
		"root/emptydir/.keep":     "",
		"root/withindex/idx.htm":  "IDX",
		"root/withindex/index.ht": "no",
	}
	for name, content := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"root/link-in":     "a.txt",
		"root/sub/link-up": "../a.txt",
		"root/link-out":    "../outside/secret.txt",
		"root/link-abs":    filepath.Join(outside, "secret.txt"),
		"root/dirlink-out": "../outside/dir",
		"root/dirlink-in":  "sub",
		"root/dangling":    "nowhere",
		"root/loop":        "loop",
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func newHandler(t *testing.T, root string, edit func(*Handler)) *Handler {
	t.Helper()
	h := New()
	h.Root = root
	if edit != nil {
		edit(h)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func request(method, target string, fields ...string) *http.Request {
	head := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, f := range fields {
		head += f + "\r\n"
	}
	r, err := http.ParseRequest([]byte(head + "\r\n"))
	if err != nil {
		panic(fmt.Sprintf("%s %q: %v", method, target, err))
	}
	return r
}

// body is what the client would receive; it closes the response's file.
func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := workermantest.ResponseBody(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type want struct {
	status int
	body   string            // exact body, when not ""
	has    string            // substring of the body
	fields map[string]string // header fields that must have these values
}

func check(t *testing.T, h *Handler, req *http.Request, w want) {
	t.Helper()
	r := h.Respond(req)
	b := body(t, r)
	if r.Status != w.status {
		t.Errorf("%s %s: status %d, want %d (body %q)", req.Method(), req.URI(), r.Status, w.status, b)
	}
	if w.body != "" && b != w.body {
		t.Errorf("%s %s: body %q, want %q", req.Method(), req.URI(), b, w.body)
	}
	if w.has != "" && !strings.Contains(b, w.has) {
		t.Errorf("%s %s: body %q lacks %q", req.Method(), req.URI(), b, w.has)
	}
	for k, v := range w.fields {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", req.Method(), req.URI(), k, got, v)
		}
	}
	if strings.Contains(b, "SECRET") || strings.Contains(b, "INNER") {
		t.Errorf("%s %s: served a file outside the root", req.Method(), req.URI())
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

const notFound = "<h3>404 Not Found</h3>"

func TestRespondPaths(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, func(h *Handler) { h.Precompressed = false })
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first request opens the root, which stays open for the process.
	h.Respond(request("GET", "/"))
	fds := openFDs(t)
	defer func() {
		if n := openFDs(t); n != fds {
			t.Errorf("%d descriptors open before, %d after: Respond leaks files", fds, n)
		}
	}()
	for _, c := range []struct {
		target string
		w      want
	}{
		{"/", want{status: 200, body: "home", fields: map[string]string{"Content-Type": "text/html; charset=utf-8"}}},
		{"/index.html", want{status: 200, body: "home"}},
		{"/a.txt", want{status: 200, body: "A", fields: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Accept-Ranges": "bytes"}}},
		{"/a.txt?x=1#frag", want{status: 200, body: "A"}},
		{"//a.txt", want{status: 200, body: "A"}},
		{"/./a.txt", want{status: 200, body: "A"}},
		{"/space%20name.txt", want{status: 200, body: "SP"}},
		{"/sub/%3Cx%3E%26.txt", want{status: 200, body: "X"}},
		{"http://example.com/a.txt", want{status: 200, body: "A"}},
		{"http://example.com", want{status: 200, body: "home"}},
		{"/missing", want{status: 404, body: notFound}},
		{"/a.txt/", want{status: 404, body: notFound}},
		{"/a.txt/x", want{status: 404, body: notFound}},
		{"/docs", want{status: 301, fields: map[string]string{"Location": "/docs/"}}},
		{"/docs?q=1", want{status: 301, fields: map[string]string{"Location": "/docs/?q=1"}}},
		{"//docs", want{status: 301, fields: map[string]string{"Location": "/docs/"}}},
		{"/docs/", want{status: 200, body: "docs"}},
		{"/sub/", want{status: 403, body: "<h3>403 Forbidden</h3>"}},
		{"/emptydir/", want{status: 403}},

		// Traversal and malformed paths.
		{"/../etc/passwd", want{status: 404, body: notFound}},
		{"/../outside/secret.txt", want{status: 404}},
		{"/%2e%2e/outside/secret.txt", want{status: 404}},
		{"/%2E%2E/", want{status: 404}},
		{"/a/%2e%2e/%2e%2e/", want{status: 404}},
		{"/sub/../a.txt", want{status: 404}},
		{"/..%2foutside/secret.txt", want{status: 404}},
		{"/sub%2fb.txt", want{status: 404}},
		{"/%00", want{status: 400}},
		{"/a.txt%00.html", want{status: 400}},
		{"/%zz", want{status: 400}},
		{"/%", want{status: 400}},

		// Hidden names.
		{"/.secret", want{status: 404, body: notFound}},
		{"/.well-known/x.txt", want{status: 404}},
		{"/sub/.hidden", want{status: 404}},
		{"/%2esecret", want{status: 404}},

		// Symlinks: inside the root they work, outside they are 404.
		{"/link-in", want{status: 200, body: "A"}},
		{"/sub/link-up", want{status: 200, body: "A"}},
		{"/dirlink-in/b.txt", want{status: 200, body: "B"}},
		{"/link-out", want{status: 404}},
		{"/link-abs", want{status: 404}},
		{"/dirlink-out/inner.txt", want{status: 404}},
		{"/dirlink-out/", want{status: 404}},
		{"/dangling", want{status: 404}},
		{"/loop", want{status: 404}},

		// A FIFO without a writer must neither block nor be served.
		{"/fifo", want{status: 404}},
	} {
		check(t, h, request("GET", c.target), c.w)
	}
	// "GET *" never passes the server's parser; the handler refuses the
	// asterisk form on its own too.
	if _, _, status := h.resolve("*"); status != 400 {
		t.Errorf(`target "*": status %d, want 400`, status)
	}
}

func TestFollowSymlinks(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, func(h *Handler) { h.FollowSymlinks = true })
	r := h.Respond(request("GET", "/link-out"))
	if b := body(t, r); r.Status != 200 || b != "TOP SECRET" {
		t.Errorf("follow_symlinks = true: %d %q", r.Status, b)
	}
	// Even then, ".." never leaves the root.
	check(t, h, request("GET", "/../outside/secret.txt"), want{status: 404})
	check(t, h, request("GET", "/%2e%2e/outside/secret.txt"), want{status: 404})
}

func TestHiddenAllowed(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, func(h *Handler) { h.Hidden = true })
	check(t, h, request("GET", "/.secret"), want{status: 200, body: "S"})
	check(t, h, request("GET", "/.well-known/x.txt"), want{status: 200, body: "W"})
	check(t, h, request("GET", "/%2e%2e/x"), want{status: 404})
}

func TestMethods(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
		check(t, h, request(m, "/a.txt"), want{status: 405, fields: map[string]string{"Allow": "GET, HEAD"}})
	}
	r := h.Respond(request("HEAD", "/a.txt"))
	if r.Status != 200 || r.Body != nil {
		t.Errorf("HEAD: %d %q, want 200 and the file as the body", r.Status, r.Body)
	}
	if b := body(t, r); b != "A" {
		t.Errorf("HEAD: the file body is %q, want a.txt's one byte", b)
	}
}

func TestIndexAndListing(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, func(h *Handler) { h.Index = []string{"missing.html", "idx.htm"} })
	check(t, h, request("GET", "/withindex/"), want{status: 200, body: "IDX"})

	h = newHandler(t, root, func(h *Handler) { h.ListDirectories = true })
	r := h.Respond(request("GET", "/sub/"))
	b := body(t, r)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("listing: %d %q", r.Status, r.Header)
	}
	for _, s := range []string{`<a href="./b.txt">b.txt</a>`, `<a href="./deeper/">deeper/</a>`, `&lt;x&gt;&amp;.txt</a>`, `href="./%3Cx%3E&amp;.txt"`, `<a href="../">`, "Index of /sub/"} {
		if !strings.Contains(b, s) {
			t.Errorf("listing lacks %q:\n%s", s, b)
		}
	}
	if strings.Contains(b, ".hidden") || strings.Contains(b, "<x>") {
		t.Errorf("listing shows a hidden or unescaped name:\n%s", b)
	}
}

func TestPrecompressed(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, func(h *Handler) { h.CacheControl = "public, max-age=60" })
	js := "text/javascript; charset=utf-8"
	for _, c := range []struct {
		ae   string
		body string
		enc  string
	}{
		{"", "JS", ""},
		{"gzip", "GZ", "gzip"},
		{"gzip, deflate, br", "BR", "br"},
		{"br;q=0, gzip", "GZ", "gzip"},
		{"br;q=0.0, gzip;q=0", "JS", ""},
		{"*", "BR", "br"},
		{"*, br;q=0", "GZ", "gzip"},
		{"identity", "JS", ""},
		{"GZIP;q=0.5", "GZ", "gzip"},
	} {
		check(t, h, request("GET", "/app.js", "Accept-Encoding: "+c.ae), want{status: 200, body: c.body, fields: map[string]string{
			"Content-Encoding": c.enc, "Content-Type": js, "Vary": "Accept-Encoding", "Cache-Control": "public, max-age=60",
		}})
	}
	check(t, h, request("GET", "/only-gz.css", "Accept-Encoding: br, gzip"), want{status: 200, body: "CSSGZ", fields: map[string]string{
		"Content-Encoding": "gzip", "Content-Type": "text/css; charset=utf-8",
	}})
	// Each representation has its own validator.
	plain := h.Respond(request("GET", "/app.js"))
	gz := h.Respond(request("GET", "/app.js", "Accept-Encoding: gzip"))
	if plain.Header.Get("ETag") == gz.Header.Get("ETag") {
		t.Error("the gzip sibling has the original's ETag")
	}
	check(t, h, request("GET", "/app.js", "Accept-Encoding: gzip", "If-None-Match: "+gz.Header.Get("ETag")), want{status: 304, fields: map[string]string{"Vary": "Accept-Encoding"}})

	h = newHandler(t, root, func(h *Handler) { h.Precompressed = false })
	check(t, h, request("GET", "/app.js", "Accept-Encoding: br, gzip"), want{status: 200, body: "JS", fields: map[string]string{"Content-Encoding": "", "Vary": ""}})
}

func TestConditionalAndRange(t *testing.T) {
	root, _ := tree(t)
	h := newHandler(t, root, nil)
	r := h.Respond(request("GET", "/index.html"))
	etag, lm := r.Header.Get("ETag"), r.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("no validators: %q", r.Header)
	}
	check(t, h, request("GET", "/", "If-None-Match: "+etag), want{status: 304})
	check(t, h, request("GET", "/index.html", "If-Modified-Since: "+lm), want{status: 304})
	check(t, h, request("GET", "/index.html", "Range: bytes=1-2"), want{status: 206, body: "om", fields: map[string]string{"Content-Range": "bytes 1-2/4"}})
	check(t, h, request("GET", "/index.html", "Range: bytes=9-"), want{status: 416, fields: map[string]string{"Content-Range": "bytes */4"}})
}

func TestValidate(t *testing.T) {
	root, _ := tree(t)
	for _, c := range []struct {
		name string
		h    Handler
	}{
		{"no root", Handler{}},
		{"missing root", Handler{Root: filepath.Join(root, "nope")}},
		{"file root", Handler{Root: filepath.Join(root, "a.txt")}},
		{"index with slash", Handler{Root: root, Index: []string{"a/b.html"}}},
		{"index dotdot", Handler{Root: root, Index: []string{".."}}},
		{"bad cache_control", Handler{Root: root, CacheControl: "x\r\nSet-Cookie: a=b"}},
	} {
		if err := c.h.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", c.name, c.h)
		}
	}
}

func TestRegistered(t *testing.T) {
	root, _ := tree(t)
	hd, err := workerman.NewHandler("static", workermantest.DecodeTOML(`root = "`+root+`"
list_directories = true
cache_control = "no-cache"`))
	if err != nil {
		t.Fatal(err)
	}
	h := hd.(*Handler)
	if !h.ListDirectories || h.CacheControl != "no-cache" || !h.Precompressed || len(h.Index) != 1 || h.Index[0] != "index.html" {
		t.Errorf("decoded %+v: defaults lost or options not read", h)
	}
	if _, err := workerman.NewHandler("static", workermantest.DecodeTOML(`root = "`+root+`"
indexes = ["x"]`)); err == nil {
		t.Error("an unknown option was accepted")
	}
	if _, err := workerman.NewHandler("static", workermantest.DecodeTOML(``)); err == nil || !strings.Contains(err.Error(), "root") {
		t.Errorf("a missing root: %v", err)
	}
}

func TestRelativeRoot(t *testing.T) {
	root, _ := tree(t)
	t.Chdir(filepath.Dir(root))
	h := newHandler(t, "root", nil)
	if !filepath.IsAbs(h.Root) {
		t.Errorf("Root %q was not made absolute", h.Root)
	}
	check(t, h, request("GET", "/a.txt"), want{status: 200, body: "A"})
}

func TestAcceptsEncoding(t *testing.T) {
	for _, c := range []struct {
		ae, coding string
		want       bool
	}{
		{"gzip", "gzip", true}, {"gzip;q=0", "gzip", false}, {"gzip; q=0.000", "gzip", false},
		{"gzip;q=0.001", "gzip", true}, {"deflate", "gzip", false}, {"*;q=0", "gzip", false},
		{"x-gzip", "gzip", false}, {" br , gzip ", "br", true}, {"gzip;level=1;q=1", "gzip", true},
	} {
		if got := acceptsEncoding(c.ae, c.coding); got != c.want {
			t.Errorf("acceptsEncoding(%q, %q) = %v", c.ae, c.coding, got)
		}
	}
}

func BenchmarkRespondSmallFile(b *testing.B) {
	root := b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "4k.html"), []byte(strings.Repeat("x", 4096)), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		name := "root"
		if follow {
			name = "follow_symlinks"
		}
		b.Run(name, func(b *testing.B) {
			h := New()
			h.Root, h.FollowSymlinks = root, follow
			if err := h.Validate(); err != nil {
				b.Fatal(err)
			}
			req := request("GET", "/4k.html", "Accept-Encoding: gzip, br")
			b.ReportAllocs()
			for b.Loop() {
				if r := h.Respond(req); r.Status != 200 || len(r.Body) != 4096 {
					b.Fatal(r.Status)
				}
			}
		})
	}
}
