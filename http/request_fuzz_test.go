package http

import (
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
)

// FuzzRequest feeds arbitrary bytes to Reset: no accessor may panic, and
// results must be consistent with each other.
func FuzzRequest(f *testing.F) {
	for _, s := range []struct{ head, body, trailer string }{
		{"GET /a%20b?x=1&x=2 HTTP/1.1\r\nHost: h:80\r\nCookie: a=1; b=\"2\"\r\n\r\n", "", ""},
		{"POST http://h/p?q HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\n", "a=1", ""},
		{"POST / HTTP/1.1\r\nContent-Type: application/json\r\n\r\n", `{"a":[1,2]}`, ""},
		{"POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n",
			"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nxyz\r\n--b--\r\n", ""},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 1.2.3.4, [::1]:80\r\n\r\n", "abc", "T: 1\r\n\r\n"},
		{"OPTIONS * HTTP/1.1\r\n\r\n", "", ""},
		{"\n\nGET\n", "", ""},
		{"", "", ""},
		{"GET /%", "%", ":"},
		{"\r", "0", "0"},
		{"A B C D\r\n:\r\n \r\nx:y\r\n\r\nz: w\r\n", "", "\r\n"},
	} {
		f.Add([]byte(s.head), []byte(s.body), []byte(s.trailer))
	}
	dir := f.TempDir()
	opts, err := Options{UploadDir: dir, MaxUploadFiles: 3, MaxUploadFileSize: 64, TrustedProxies: []string{"127.0.0.0/8"}}.WithDefaults()
	if err != nil {
		f.Fatal(err)
	}
	src := source{Remote: netip.MustParseAddrPort("127.0.0.1:1"), Options: &opts}
	var r Request
	f.Fuzz(func(t *testing.T, head, body, trailer []byte) {
		r.reset(head, body, trailer, src)
		exerciseRequest(&r)
		if got := r.Get("x"); got != r.Query().Get("x") {
			t.Errorf("Get = %q, Query().Get = %q", got, r.Query().Get("x"))
		}
		for name, v := range r.Cookies() {
			if name == "" || r.Cookie(name) != v {
				t.Errorf("Cookie(%q) = %q, Cookies has %q", name, r.Cookie(name), v)
			}
		}
		if strings.ContainsAny(r.Method()+r.URI(), " \n") {
			t.Errorf("method %q or target %q holds a separator", r.Method(), r.URI())
		}
		if !strings.Contains(string(head), r.URI()) {
			t.Errorf("URI %q is not from the head", r.URI())
		}
		files, _ := r.Files()
		for _, fs := range files {
			for _, f := range fs {
				if f.Size > 64 || strings.ContainsAny(f.Name, `/\`) {
					t.Errorf("file over the limits: %+v", f)
				}
			}
		}
		r.release()
		if es, _ := os.ReadDir(dir); len(es) != 0 {
			t.Fatalf("temp files left after Release: %d", len(es))
		}
	})
}

// FuzzQuery checks the query decoder against net/url on the inputs both
// read the same way: no ';' (url refuses it) and no malformed escape (url
// drops the pair, we keep it literally); url keeps an empty name, we drop it.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&a=2", "a+b=c%20d", "%zz=1", "=1&b", "a[]=1&a[]=2&&", "x=%E4%BD%A0", "a=b=c", "%", "a;b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := reqParseQuery(q)
		for name := range got {
			if name == "" {
				t.Errorf("empty name kept")
			}
		}
		want, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		delete(want, "")
		if !reflect.DeepEqual(map[string][]string(got), map[string][]string(want)) {
			t.Errorf("reqParseQuery(%q) = %q, url.ParseQuery = %q", q, got, want)
		}
	})
}

// FuzzCookies checks that what a Response would write (rawurlencoded) reads
// back unchanged, and that arbitrary Cookie fields never panic.
func FuzzCookies(f *testing.F) {
	for _, s := range []string{"a=1; b=2", `q="v"`, "x=%41%", ";;=;", "a=b=c; a=d", "n=\"", "v=a+b%2B"} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, field, value string) {
		m := map[string]string{}
		reqParseCookies(m, field)
		for name, v := range m {
			if name == "" || strings.ContainsAny(name, ";=") || strings.Trim(name, " \t") != name {
				t.Errorf("%q: bad name %q (value %q)", field, name, v)
			}
		}
		c := Cookie{Name: "n", Value: value}
		enc := string(c.AppendTo(nil)) // "n=<value encoded>", as a Response writes it
		m = map[string]string{}
		reqParseCookies(m, "x=1; "+enc+"; y=2")
		if m["n"] != value || m["x"] != "1" || m["y"] != "2" {
			t.Errorf("value %q written as %q read back as %q", value, enc, m)
		}
	})
}

// FuzzMultipart feeds arbitrary multipart bodies: the limits hold, and no
// temp file outlives a failed parse or Release.
func FuzzMultipart(f *testing.F) {
	ct, body := multipartBody(f, []testPart{
		{field: "t", content: "v"},
		{field: "f", file: true, filename: "a.txt", ctype: "text/plain", content: "hello"},
		{field: "f", file: true, filename: `..\b`, content: strings.Repeat("z", 40)},
	})
	_, boundary, _ := strings.Cut(ct, "boundary=")
	f.Add(body)
	f.Add([]byte("--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC.txt\r\n\r\nx\r\n--" + boundary + "--"))
	f.Add(body[:len(body)/2])
	dir := f.TempDir()
	opts, err := Options{UploadDir: dir, MaxUploadFiles: 2, MaxUploadFileSize: 32}.WithDefaults()
	if err != nil {
		f.Fatal(err)
	}
	head := []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: " + ct + "\r\n\r\n")
	var r Request
	f.Fuzz(func(t *testing.T, body []byte) {
		r.reset(head, body, nil, source{Options: &opts})
		files, err := r.Files()
		n := 0
		for field, fs := range files {
			for _, f := range fs {
				n++
				if f.Field != field || f.Size > 32 || f.Name == "" || strings.ContainsAny(f.Name, "/\\\x00") {
					t.Errorf("bad file %+v", f)
				}
				if fi, err := os.Stat(f.Path); err != nil || fi.Size() != f.Size {
					t.Errorf("temp file of %+v: %v", f, err)
				}
			}
		}
		if n > 2 {
			t.Errorf("%d files, limit 2", n)
		}
		es, _ := os.ReadDir(dir)
		if err != nil && (len(es) != 0 || len(r.PostForm()) != 0) {
			t.Errorf("failed parse (%v) left %d temp files and %d fields", err, len(es), len(r.PostForm()))
		}
		r.release()
		if es, _ := os.ReadDir(dir); len(es) != 0 {
			t.Fatalf("temp files left after Release: %d", len(es))
		}
	})
}
