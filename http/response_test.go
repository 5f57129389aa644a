package http

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResponseBuilder(t *testing.T) {
	r := NewResponse(201).
		WithHeader("Content-Type", "text/plain").
		AddHeader("X-Tag", "a").
		AddHeader("X-Tag", "b").
		WithHeader("content-type", "application/json").
		AddHeader("Bad Name", "x").
		AddHeader("X-Injected", "a\r\nSet-Cookie: evil=1").
		WithHeader("X-Tag2", "1").
		WithoutHeader("x-tag2").
		WithCookie(Cookie{Name: "ok", Value: "1"}).
		WithCookie(Cookie{Name: "bad name", Value: "1"}).
		WithBodyString("{}")
	want := Header{{"content-type", "application/json"}, {"X-Tag", "a"}, {"X-Tag", "b"}}
	if r.Status != 201 || !slices.Equal(r.Header, want) || string(r.Body) != "{}" {
		t.Errorf("got %d %q %q", r.Status, r.Header, r.Body)
	}
	if len(r.Cookies) != 1 || r.Cookies[0].Name != "ok" {
		t.Errorf("cookies %+v: the invalid one must be refused", r.Cookies)
	}
	r.WithStatus(418, "Short and stout")
	if r.Status != 418 || r.Reason != "Short and stout" {
		t.Errorf("WithStatus: %d %q", r.Status, r.Reason)
	}
	r.WithStatus(404, "bad\r\nreason")
	if r.Reason != "" {
		t.Errorf("a reason with CR LF was kept: %q", r.Reason)
	}
	r.WithStatus(200)
	if r.Reason != "" {
		t.Errorf("WithStatus without reason kept %q", r.Reason)
	}
}

func TestConvenienceResponses(t *testing.T) {
	r := Text(200, "hi")
	if r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || string(r.Body) != "hi" {
		t.Errorf("Text: %q %q", r.Header, r.Body)
	}
	r = HTML(404, "<b>x</b>")
	if r.Status != 404 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HTML: %d %q", r.Status, r.Header)
	}
	r, err := JSON(200, map[string]int{"a": 1})
	if err != nil || string(r.Body) != `{"a":1}` || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("JSON: %v %q %q", err, r.Header, r.Body)
	}
	if _, err := JSON(200, func() {}); err == nil {
		t.Error("JSON of a func gave no error")
	}
	r = Redirect(301, "/a?b=<c>")
	if r.Status != 301 || r.Header.Get("Location") != "/a?b=<c>" || !strings.Contains(string(r.Body), "/a?b=&lt;c&gt;") {
		t.Errorf("Redirect: %d %q %q", r.Status, r.Header, r.Body)
	}
	if r = Redirect(200, "/x"); r.Status != 302 {
		t.Errorf("Redirect(200) status %d, want 302", r.Status)
	}
	if r = Redirect(302, "/x\r\nSet-Cookie: a=1"); r.Status != 500 || r.Header.Has("Location") {
		t.Errorf("Redirect to an injected location: %d %q", r.Status, r.Header)
	}
}

func TestWithFileAndBody(t *testing.T) {
	r := NewResponse(200).WithFile("/x", 1, 2)
	if f := r.file; f == nil || f.Path != "/x" || f.Offset != 1 || f.Length != 2 {
		t.Fatalf("WithFile: %+v", r.file)
	}
	r.WithBodyString("b")
	if r.file != nil {
		t.Error("WithBody kept the file")
	}
}

func writeFile(t *testing.T, dir, name, content string, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestPrepareFile(t *testing.T) {
	dir := t.TempDir()
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	css := writeFile(t, dir, "a.css", "0123456789", mt)
	unk := writeFile(t, dir, "data.weird-ext", "xyz", mt)

	r := NewResponse(200).WithFile(css, 0, 0)
	if err := r.prepareFile(); err != nil {
		t.Fatal(err)
	}
	defer r.file.Close()
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		r.Header.Get("Last-Modified") != "Thu, 02 Jan 2020 03:04:05 GMT" || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("plain file: %d %q", r.Status, r.Header)
	}
	if f := r.file; f.File == nil || f.Size != 10 || f.ContentLength() != 10 {
		t.Errorf("file body %+v", f)
	}
	if err := r.prepareFile(); err != nil || len(r.Header) != 3 {
		t.Errorf("second PrepareFile changed the response: %v %q", err, r.Header)
	}

	r = NewResponse(0).WithFile(css, 2, 3)
	if err := r.prepareFile(); err != nil {
		t.Fatal(err)
	}
	r.file.Close()
	if r.Status != 206 || r.Header.Get("Content-Range") != "bytes 2-4/10" {
		t.Errorf("offset+length: %d %q", r.Status, r.Header)
	}
	r = NewResponse(0).WithFile(css, 4, 0)
	r.prepareFile()
	r.file.Close()
	if r.Status != 206 || r.Header.Get("Content-Range") != "bytes 4-9/10" {
		t.Errorf("offset only: %d %q", r.Status, r.Header)
	}

	r = NewResponse(200).WithFile(unk, 0, 0)
	r.prepareFile()
	r.file.Close()
	if r.Header.Get("Content-Type") != "application/octet-stream" || r.Header.Get("Content-Disposition") != `attachment; filename="data.weird-ext"` {
		t.Errorf("unknown type: %q", r.Header)
	}

	for _, p := range []string{filepath.Join(dir, "missing"), dir} {
		r = NewResponse(200).WithHeader("X-A", "1").WithFile(p, 0, 0)
		if err := r.prepareFile(); err == nil || r.Status != 404 || r.file != nil || string(r.Body) != "<h3>404 Not Found</h3>" || r.Header.Has("X-A") {
			t.Errorf("%s: %v %d %q %q", p, err, r.Status, r.Header, r.Body)
		}
	}
	r = NewResponse(200).WithFile(css, 5, 6)
	if err := r.prepareFile(); err == nil || r.Status != 416 || r.Header.Get("Content-Range") != "bytes */10" {
		t.Errorf("length past the end: %v %d %q", err, r.Status, r.Header)
	}
}

func TestContentDisposition(t *testing.T) {
	if got := contentDisposition(`a"b.bin`); got != `attachment; filename*=UTF-8''a%22b.bin` {
		t.Errorf("quote in name: %q", got)
	}
}
