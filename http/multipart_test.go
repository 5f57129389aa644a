package http

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type testPart struct {
	field, filename, ctype, content string
	file                            bool
}

// multipartBody encodes parts with mime/multipart's writer: the format
// browsers send.
func multipartBody(t testing.TB, parts []testPart) (contentType string, body []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.field)
		if p.file {
			cd += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(p.content))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

func uploadReq(t testing.TB, opts Options, ct string, body []byte) *Request {
	o, err := opts.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	head := "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: " + ct + "\r\n\r\n"
	return newRequest([]byte(head), body, nil, source{Options: &o})
}

func dirEntries(t testing.TB, dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestMultipartUpload(t *testing.T) {
	dir := t.TempDir()
	ct, body := multipartBody(t, []testPart{
		{field: "title", content: "hello world"},
		{field: "doc", file: true, filename: "report.pdf", ctype: "application/pdf", content: "%PDF-1.4 ..."},
		{field: "title", content: "second"},
		{field: "pics[]", file: true, filename: `C:\Users\me\a.png`, ctype: "image/png", content: "PNG1"},
		{field: "pics[]", file: true, filename: "../../etc/b.png", content: ""},
		{field: "empty", file: true, filename: "", content: ""}, // a file input left empty
		{field: "dots", file: true, filename: "..", content: "x"},
	})
	r := uploadReq(t, Options{UploadDir: dir}, ct, body)

	if got := r.PostForm()["title"]; len(got) != 2 || got[0] != "hello world" || got[1] != "second" {
		t.Errorf("PostForm[title] = %q", got)
	}
	if r.Post("doc") != "" {
		t.Errorf("a file part appeared as a field: %q", r.Post("doc"))
	}
	files, err := r.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(files["pics[]"]) != 2 {
		t.Fatalf("Files = %v, want doc and two pics[] (empty and dot names skipped)", files)
	}
	check := func(f *UploadedFile, field, name, typ, content string) {
		t.Helper()
		if f == nil {
			t.Fatalf("no file for %s", field)
		}
		if f.Field != field || f.Name != name || f.Type != typ || f.Size != int64(len(content)) {
			t.Errorf("file = %+v, want field %q name %q type %q size %d", f, field, name, typ, len(content))
		}
		if filepath.Dir(f.Path) != dir || !strings.HasPrefix(filepath.Base(f.Path), "workermand-upload-") {
			t.Errorf("temp file %s: want workermand-upload-* in %s", f.Path, dir)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil || string(data) != content {
			t.Errorf("temp file holds %q (%v), want %q", data, err, content)
		}
		if fi, err := os.Stat(f.Path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file mode: %v %v, want 0600", fi.Mode(), err)
		}
	}
	check(r.File("doc"), "doc", "report.pdf", "application/pdf", "%PDF-1.4 ...")
	check(files["pics[]"][0], "pics[]", "a.png", "image/png", "PNG1")
	check(files["pics[]"][1], "pics[]", "b.png", "", "")
	if r.File("absent") != nil || r.File("title") != nil {
		t.Error("File returned a file for a field without one")
	}
	if n := len(dirEntries(t, dir)); n != 3 {
		t.Errorf("%d temp files, want 3", n)
	}

	r.release()
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("after Release these temp files remain: %v", left)
	}
}

func TestMultipartResetRemovesFiles(t *testing.T) {
	dir := t.TempDir()
	ct, body := multipartBody(t, []testPart{{field: "f", file: true, filename: "a.txt", content: "abc"}})
	r := uploadReq(t, Options{UploadDir: dir}, ct, body)
	moved := r.File("f")
	r2ct, r2body := multipartBody(t, []testPart{{field: "g", file: true, filename: "b.txt", content: "def"}})
	_ = r2ct
	// A handler that keeps a file moves it: Release must not mind.
	kept := filepath.Join(t.TempDir(), "kept")
	if err := os.Rename(moved.Path, kept); err != nil {
		t.Fatal(err)
	}
	second := uploadReq(t, Options{UploadDir: dir}, r2ct, r2body)
	if second.File("g") == nil {
		t.Fatal("no file g")
	}
	second.reset([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), nil, nil, source{})
	r.release()
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("temp files remain after Reset/Release: %v", left)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the moved file was removed: %v", err)
	}
}

func TestMultipartLimits(t *testing.T) {
	three := []testPart{
		{field: "name", content: "v"},
		{field: "a", file: true, filename: "1", content: "0123456789"},
		{field: "a", file: true, filename: "2", content: "0123456789"},
		{field: "b", file: true, filename: "3", content: "01234567890"},
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		files   int
	}{
		{"defaults", Options{}, "", 3},
		{"count at the limit", Options{MaxUploadFiles: 3}, "", 3},
		{"count over the limit", Options{MaxUploadFiles: 2}, "more than 2 files", 0},
		{"size at the limit", Options{MaxUploadFileSize: 11}, "", 3},
		{"size over the limit", Options{MaxUploadFileSize: 10}, "larger than 10 bytes", 0},
		{"unwritable dir", Options{UploadDir: "/nonexistent/upload"}, "create temp file", 0},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.opts.UploadDir == "" {
			tt.opts.UploadDir = dir
		}
		ct, body := multipartBody(t, three)
		r := uploadReq(t, tt.opts, ct, body)
		files, err := r.Files()
		n := 0
		for _, fs := range files {
			n += len(fs)
		}
		if tt.wantErr == "" {
			if err != nil || n != tt.files || r.Post("name") != "v" {
				t.Errorf("%s: %d files, Post(name) %q, err %v; want %d files", tt.name, n, r.Post("name"), err, tt.files)
			}
		} else {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || files != nil {
				t.Errorf("%s: files %v, err %v; want no files and an error with %q", tt.name, files, err, tt.wantErr)
			}
			if left := dirEntries(t, dir); len(left) != 0 {
				t.Errorf("%s: the failed parse left temp files %v", tt.name, left)
			}
			if len(r.PostForm()) != 0 || r.File("a") != nil {
				t.Errorf("%s: a failed multipart body still gave fields %v or files", tt.name, r.PostForm())
			}
		}
		r.release()
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Errorf("%s: temp files after Release: %v", tt.name, left)
		}
	}
}

func TestMultipartMalformed(t *testing.T) {
	ct, good := multipartBody(t, []testPart{
		{field: "f", file: true, filename: "x", content: strings.Repeat("x", 100)},
		{field: "v", content: "1"},
	})
	tests := []struct {
		name, ct string
		body     []byte
		want     string
	}{
		{"no boundary", "multipart/form-data", good, "no boundary"},
		{"wrong boundary", "multipart/form-data; boundary=nope", good, "multipart"},
		{"truncated", ct, good[:len(good)-60], "multipart"},
		{"garbage", ct, []byte("not multipart at all"), "multipart"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		r := uploadReq(t, Options{UploadDir: dir}, tt.ct, tt.body)
		files, err := r.Files()
		if err == nil || !strings.Contains(err.Error(), tt.want) || files != nil {
			t.Errorf("%s: Files = %v, %v; want an error with %q", tt.name, files, err, tt.want)
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Errorf("%s: temp files left: %v", tt.name, left)
		}
		if len(r.PostForm()) != 0 {
			t.Errorf("%s: PostForm = %v, want empty", tt.name, r.PostForm())
		}
	}
	// An empty multipart body (just the close delimiter) is valid and empty.
	r := uploadReq(t, Options{UploadDir: t.TempDir()}, "multipart/form-data; boundary=b", []byte("--b--\r\n"))
	if files, err := r.Files(); files != nil || err != nil {
		t.Errorf("empty multipart: %v, %v", files, err)
	}
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt": "a.txt", "dir/a.txt": "a.txt", `C:\dir\a.txt`: "a.txt", "../../etc/passwd": "passwd",
		"..": "", ".": "", "a/": "", "a\x00b\nc.txt": "abc.txt", "ünï cødé.txt": "ünï cødé.txt",
	} {
		if got := reqSanitizeFileName(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// Options a user builds by hand, without WithDefaults, still allow uploads.
func TestMultipartRawOptions(t *testing.T) {
	dir := t.TempDir()
	ct, body := multipartBody(t, []testPart{{field: "f", file: true, filename: "a", content: "abc"}})
	r := newRequest([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: "+ct+"\r\n\r\n"), body, nil, source{Options: &Options{UploadDir: dir}})
	if f := r.File("f"); f == nil || f.Size != 3 || filepath.Dir(f.Path) != dir {
		files, err := r.Files()
		t.Fatalf("File = %+v (%v, %v)", f, files, err)
	}
	r.release()
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("temp files after Release: %v", left)
	}
}
