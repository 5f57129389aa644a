package http

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// srvReq builds a request with the given method, target and fields
// ("Name: value" each).
func srvReq(method, target string, fields ...string) *Request {
	head := method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, f := range fields {
		head += f + "\r\n"
	}
	return newRequest([]byte(head+"\r\n"), nil, nil, source{})
}

// respBody is what the client would receive as the body of r (ignoring
// HEAD); it closes r's file.
func respBody(t *testing.T, r *Response) string {
	t.Helper()
	f := r.file
	if f == nil {
		return string(r.Body)
	}
	defer f.Close()
	b := make([]byte, f.ContentLength())
	if _, err := f.File.ReadAt(b, f.Offset); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return string(b)
}

func TestFileBodyOpen(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "f.txt", "hello", time.Time{})
	fb := &fileBody{Path: p, Offset: 1, Length: 4}
	if err := fb.Open(); err != nil || fb.Size != 5 || fb.ModTime.IsZero() || fb.ContentLength() != 4 {
		t.Fatalf("Open: %v %+v", err, fb)
	}
	fb.Close()
	if fb.File != nil {
		t.Error("Close left File set")
	}
	for _, c := range []struct {
		fb   fileBody
		want error
	}{
		{fileBody{Path: filepath.Join(dir, "none")}, fs.ErrNotExist},
		{fileBody{Path: dir}, ErrIsDirectory},
		{fileBody{Path: dir}, fs.ErrNotExist},
		{fileBody{Path: p, Offset: 6}, ErrRange},
		{fileBody{Path: p, Offset: 5, Length: 1}, ErrRange},
		{fileBody{Path: p, Offset: -1}, ErrRange},
	} {
		err := c.fb.Open()
		if !errors.Is(err, c.want) {
			t.Errorf("Open(%+v) = %v, want %v", c.fb, err, c.want)
		}
		if c.fb.File != nil {
			t.Errorf("Open(%+v) failed but left the file open", c.fb)
		}
	}
	// A FIFO must not block the caller in open(2) (no writer exists).
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { done <- (&fileBody{Path: fifo}).Open() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("FIFO: %v, want ErrNotRegular", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
}

func TestServeFile(t *testing.T) {
	dir := t.TempDir()
	mt := time.Date(2021, 6, 7, 8, 9, 10, 123456789, time.UTC)
	content := "0123456789abcdefghij" // 20 bytes
	p := writeFile(t, dir, "page.html", content, mt)
	empty := writeFile(t, dir, "empty.txt", "", mt)
	etag := `"14-` + strings.TrimPrefix(makeETag(0, mt), `"0-`)
	lastMod := "Mon, 07 Jun 2021 08:09:10 GMT"
	before := "Mon, 07 Jun 2021 08:09:09 GMT"
	after := "Mon, 07 Jun 2021 08:09:11 GMT"

	for _, c := range []struct {
		name    string
		method  string
		path    string
		fields  []string
		status  int
		body    string
		cr      string // Content-Range
		noValid bool   // no ETag expected
	}{
		{name: "plain", method: "GET", status: 200, body: content},
		{name: "head", method: "HEAD", status: 200, body: content},
		{name: "missing", path: filepath.Join(dir, "nope"), status: 404, body: "<h3>404 Not Found</h3>", noValid: true},
		{name: "directory", path: dir, status: 404, body: "<h3>404 Not Found</h3>", noValid: true},
		{name: "inm match", fields: []string{"If-None-Match: " + etag}, status: 304},
		{name: "inm weak match", fields: []string{"If-None-Match: W/" + etag}, status: 304},
		{name: "inm list", fields: []string{`If-None-Match: "x", ` + etag}, status: 304},
		{name: "inm star", fields: []string{"If-None-Match: *"}, status: 304},
		{name: "inm other", fields: []string{`If-None-Match: "x"`}, status: 200, body: content},
		{name: "inm beats ims", fields: []string{`If-None-Match: "x"`, "If-Modified-Since: " + after}, status: 200, body: content},
		{name: "ims equal", fields: []string{"If-Modified-Since: " + lastMod}, status: 304},
		{name: "ims later", fields: []string{"If-Modified-Since: " + after}, status: 304},
		{name: "ims earlier", fields: []string{"If-Modified-Since: " + before}, status: 200, body: content},
		{name: "ims garbage", fields: []string{"If-Modified-Since: yesterday"}, status: 200, body: content},
		{name: "inm on POST", method: "POST", fields: []string{"If-None-Match: " + etag}, status: 412},
		{name: "ims on POST ignored", method: "POST", fields: []string{"If-Modified-Since: " + after}, status: 200, body: content},
		{name: "if-match ok", fields: []string{"If-Match: " + etag}, status: 200, body: content},
		{name: "if-match star", fields: []string{"If-Match: *"}, status: 200, body: content},
		{name: "if-match weak", fields: []string{"If-Match: W/" + etag}, status: 412},
		{name: "if-match other", fields: []string{`If-Match: "other"`}, status: 412},
		{name: "ius earlier", fields: []string{"If-Unmodified-Since: " + before}, status: 412},
		{name: "ius equal", fields: []string{"If-Unmodified-Since: " + lastMod}, status: 200, body: content},
		{name: "range", fields: []string{"Range: bytes=2-5"}, status: 206, body: "2345", cr: "bytes 2-5/20"},
		{name: "range open", fields: []string{"Range: bytes=18-"}, status: 206, body: "ij", cr: "bytes 18-19/20"},
		{name: "range suffix", fields: []string{"Range: bytes=-3"}, status: 206, body: "hij", cr: "bytes 17-19/20"},
		{name: "range suffix too long", fields: []string{"Range: bytes=-300"}, status: 206, body: content, cr: "bytes 0-19/20"},
		{name: "range clamp", fields: []string{"Range: bytes=15-99"}, status: 206, body: "fghij", cr: "bytes 15-19/20"},
		{name: "range unsatisfiable", fields: []string{"Range: bytes=20-"}, status: 416, cr: "bytes */20", noValid: true},
		{name: "range -0", fields: []string{"Range: bytes=-0"}, status: 416, cr: "bytes */20", noValid: true},
		{name: "range multi", fields: []string{"Range: bytes=0-1,4-5"}, status: 200, body: content},
		{name: "range bad syntax", fields: []string{"Range: bytes=5-2"}, status: 200, body: content},
		{name: "range other unit", fields: []string{"Range: lines=1-2"}, status: 200, body: content},
		{name: "range on HEAD ignored", method: "HEAD", fields: []string{"Range: bytes=0-1"}, status: 200, body: content},
		{name: "if-range etag", fields: []string{"Range: bytes=0-1", "If-Range: " + etag}, status: 206, body: "01", cr: "bytes 0-1/20"},
		{name: "if-range stale etag", fields: []string{"Range: bytes=0-1", `If-Range: "old"`}, status: 200, body: content},
		{name: "if-range weak", fields: []string{"Range: bytes=0-1", "If-Range: W/" + etag}, status: 200, body: content},
		{name: "if-range date", fields: []string{"Range: bytes=0-1", "If-Range: " + lastMod}, status: 206, body: "01", cr: "bytes 0-1/20"},
		{name: "if-range old date", fields: []string{"Range: bytes=0-1", "If-Range: " + before}, status: 200, body: content},
		{name: "empty file", path: empty, status: 200, body: "", noValid: false},
		{name: "empty file range", path: empty, fields: []string{"Range: bytes=0-"}, status: 416, cr: "bytes */0", noValid: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, path := c.method, c.path
			if method == "" {
				method = "GET"
			}
			if path == "" {
				path = p
			}
			r := ServeFile(srvReq(method, "/page.html", c.fields...), path, ServeCacheControl("max-age=60"))
			body := respBody(t, r)
			if r.Status != c.status {
				t.Errorf("status %d, want %d (%q)", r.Status, c.status, r.Header)
			}
			if body != c.body {
				t.Errorf("body %q, want %q", body, c.body)
			}
			if got := r.Header.Get("Content-Range"); got != c.cr {
				t.Errorf("Content-Range %q, want %q", got, c.cr)
			}
			if !c.noValid {
				if path == p && r.Header.Get("ETag") != etag {
					t.Errorf("ETag %q, want %q", r.Header.Get("ETag"), etag)
				}
				if r.Header.Get("Last-Modified") != lastMod || r.Header.Get("Cache-Control") != "max-age=60" {
					t.Errorf("validators missing: %q", r.Header)
				}
			}
			switch r.Status {
			case 200, 206:
				if ct := r.Header.Get("Content-Type"); path == p && ct != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if r.Header.Get("Accept-Ranges") != "bytes" {
					t.Errorf("no Accept-Ranges: %q", r.Header)
				}
			case 304, 412:
				if r.file != nil || len(r.Body) != 0 || r.Header.Has("Content-Type") {
					t.Errorf("%d with a body or Content-Type: %q", r.Status, r.Header)
				}
			}
			if r.Header.Has("Content-Length") {
				t.Error("ServeFile set Content-Length: the encoder's job")
			}
		})
	}
}

func TestServeFileInlineOrSendfile(t *testing.T) {
	dir := t.TempDir()
	small := writeFile(t, dir, "s.bin", strings.Repeat("s", 100), time.Time{})
	big := writeFile(t, dir, "b.bin", strings.Repeat("b", DefaultInlineLimit+10), time.Time{})

	r := ServeFile(srvReq("GET", "/"), small)
	if r.file != nil || len(r.Body) != 100 {
		t.Errorf("small file not inlined: file %v body %d", r.file, len(r.Body))
	}
	r = ServeFile(srvReq("GET", "/"), big)
	if f := r.file; f == nil || f.File == nil || f.Offset != 0 || f.ContentLength() != DefaultInlineLimit+10 || r.Body != nil {
		t.Fatalf("big file not left to sendfile: %+v", f)
	}
	before := slices.Clone(r.Header)
	if err := r.prepareFile(); err != nil || !slices.Equal(r.Header, before) {
		t.Errorf("PrepareFile touched a ServeFile response: %v %q", err, r.Header)
	}
	r.file.Close()
	// What counts is the length to send: a small range of a big file is
	// read, a big range is not.
	r = ServeFile(srvReq("GET", "/", "Range: bytes=-10"), big)
	if r.file != nil || string(r.Body) != strings.Repeat("b", 10) {
		t.Errorf("a small range of a big file: %+v %q", r.file, r.Body)
	}
	r = ServeFile(srvReq("GET", "/", "Range: bytes=5-"), big)
	if f := r.file; f == nil || f.Offset != 5 || f.Length != DefaultInlineLimit+5 {
		t.Errorf("a big range of a big file: %+v", f)
	}
	if got := respBody(t, r); got != strings.Repeat("b", DefaultInlineLimit+5) {
		t.Errorf("range body of %d bytes", len(got))
	}
	r = ServeFile(srvReq("HEAD", "/"), small)
	if f := r.file; f == nil || f.ContentLength() != 100 || r.Body != nil {
		t.Errorf("HEAD read the file or lost its length: %+v", f)
	} else {
		f.Close()
	}
	r = ServeFile(srvReq("GET", "/"), small, ServeInlineLimit(-1))
	if r.file == nil {
		t.Error("ServeInlineLimit(-1) still inlined")
	} else {
		r.file.Close()
	}
}

func TestServeOpenFileOptions(t *testing.T) {
	dir := t.TempDir()
	gz := writeFile(t, dir, "app.js.gz", "GZ", time.Time{})
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	r := ServeOpenFile(srvReq("GET", "/app.js"), f, "app.js", ServeContentEncoding("gzip"), ServeContentType(ContentTypeOf("app.js")), ServeVary("Accept-Encoding"))
	if r.Status != 200 || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		r.Header.Get("Vary") != "Accept-Encoding" || string(r.Body) != "GZ" {
		t.Errorf("%d %q %q", r.Status, r.Header, r.Body)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ServeOpenFile left the inlined file open (close: %v)", err)
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		s             string
		size          int64
		start, length int64
		kind          rangeKind
	}{
		{"bytes=0-0", 10, 0, 1, rangeOne},
		{"bytes=0-9", 10, 0, 10, rangeOne},
		{"BYTES=3-", 10, 3, 7, rangeOne},
		{"bytes=-4", 10, 6, 4, rangeOne},
		{"bytes= 1-2 ", 10, 1, 2, rangeOne},
		{"bytes=1-2,", 10, 1, 2, rangeOne},
		{"bytes=5-99999999999999999999999", 10, 5, 5, rangeOne},
		{"bytes=-99999999999999999999999", 10, 0, 10, rangeOne},
		{"bytes=99999999999999999999999-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=10-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=-1", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=0-1,3-4", 10, 0, 0, rangeMultiple},
		{"bytes=20-30,3-4", 10, 0, 0, rangeMultiple},
		{"bytes=20-30,40-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=", 10, 0, 0, rangeIgnore},
		{"bytes=,", 10, 0, 0, rangeIgnore},
		{"bytes=5-4", 10, 0, 0, rangeIgnore},
		{"bytes=a-b", 10, 0, 0, rangeIgnore},
		{"bytes=1", 10, 0, 0, rangeIgnore},
		{"bytes=-", 10, 0, 0, rangeIgnore},
		{"bytes=+1-2", 10, 0, 0, rangeIgnore},
		{"bytes=0-1,x", 10, 0, 0, rangeIgnore},
		{"items=0-1", 10, 0, 0, rangeIgnore},
		{"bytes 0-1", 10, 0, 0, rangeIgnore},
	} {
		start, length, kind := parseRange(c.s, c.size)
		if start != c.start || length != c.length || kind != c.kind {
			t.Errorf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d", c.s, c.size, start, length, kind, c.start, c.length, c.kind)
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=3-", "bytes=0-1,2-3", "bytes=99999999999999999999-", "bytes= , 1-2", "bytes=-0", "x"} {
		f.Add(s, int64(10))
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = 0
			}
		}
		start, length, kind := parseRange(s, size)
		switch kind {
		case rangeOne:
			if start < 0 || length < 1 || start >= size || length > size-start {
				t.Fatalf("parseRange(%q, %d) = %d+%d: outside the file", s, size, start, length)
			}
		case rangeIgnore, rangeMultiple, rangeUnsatisfiable:
			if start != 0 || length != 0 {
				t.Fatalf("parseRange(%q, %d) = %d+%d for kind %d", s, size, start, length, kind)
			}
		default:
			t.Fatalf("kind %d", kind)
		}
	})
}

func TestETagList(t *testing.T) {
	tag := `"a-1"`
	for _, c := range []struct {
		list         string
		strong, weak bool
	}{
		{`"a-1"`, true, true},
		{`W/"a-1"`, false, true},
		{` "b", "a-1" `, true, true},
		{`"b",W/"a-1"`, false, true},
		{`*`, true, true},
		{`"b"`, false, false},
		{`a-1`, false, false},
		{`"a-1`, false, false},
		{`"a-1 "`, false, false},
		{`"b" junk "a-1"`, false, false},
	} {
		if got := etagListMatch(c.list, tag, true); got != c.strong {
			t.Errorf("strong match of %q = %v", c.list, got)
		}
		if got := etagListMatch(c.list, tag, false); got != c.weak {
			t.Errorf("weak match of %q = %v", c.list, got)
		}
	}
}

func TestTypeByExtension(t *testing.T) {
	for ext, want := range map[string]string{
		".html": "text/html; charset=utf-8", ".HTML": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml", ".woff2": "font/woff2",
		".wasm": "application/wasm", ".json": "application/json", ".mp4": "video/mp4", ".pdf": "application/pdf",
		".nonexistent-ext": "", "": "",
	} {
		if got := TypeByExtension(ext); got != want {
			t.Errorf("TypeByExtension(%q) = %q, want %q", ext, got, want)
		}
	}
	if got := ContentTypeOf("/a/b/README"); got != "application/octet-stream" {
		t.Errorf("no extension: %q", got)
	}
	if got := ContentTypeOf("x.JPG"); got != "image/jpeg" {
		t.Errorf("x.JPG: %q", got)
	}
	if n := len(contentTypes); n < 60 {
		t.Errorf("only %d types in the table", n)
	}
}

func TestServeFileNilRequest(t *testing.T) {
	p := writeFile(t, t.TempDir(), "x.json", "{}", time.Time{})
	r := ServeFile(nil, p)
	if r.Status != 200 || string(r.Body) != "{}" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%d %q %q", r.Status, r.Header, r.Body)
	}
}
