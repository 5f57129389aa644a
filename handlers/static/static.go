// Package static is the stock "static" handler: it serves the files of a
// directory to an http:// worker, with index files, MIME types, Range,
// conditional GETs (ETag, Last-Modified, 304/412), precompressed .br/.gz
// siblings and an optional directory listing. See http.ServeFile for what
// one file's response holds.
//
//	[[worker]]
//	listen = "http://0.0.0.0:8080"
//	handler = "static"
//	[worker.options]
//	root = "/srv/www"
//	cache_control = "public, max-age=3600"
//
// Paths are resolved safely: the request path is percent-decoded segment by
// segment, and a NUL or a malformed escape gives 400, an encoded slash
// ("%2F") or a ".." segment 404, a segment starting with '.' 404 unless
// hidden = true (so "/.well-known/" needs hidden = true), and unless
// follow_symlinks = true no symlink may lead outside root (404): files are
// opened through an os.Root, which the kernel cannot be tricked out of by
// a symlink swapped in mid-lookup. The root directory is opened once per
// process, on the first request: a deploy that moves a "current" symlink
// takes effect with `workermand reload`, which starts new processes.
//
// Files are read and stat(2)ed on the worker's event loop, as nginx without
// aio and Workerman do: on a local disk these calls take microseconds, but
// a root on a slow network filesystem stalls every connection of the
// process while they run.
package static

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/workerman"
)

func init() {
	workerman.RegisterHandler("static", func() workerman.Handler { return New() })
}

// Handler serves a directory. Its exported fields are the options of
// [worker.options].
type Handler struct {
	// Root is the directory served (required; it must exist).
	Root string `toml:"root"`
	// Index lists the files tried, in order, for a directory.
	Index []string `toml:"index"`
	// ListDirectories answers a directory without an index file with an
	// HTML listing; otherwise such a request gets 403, as nginx does.
	ListDirectories bool `toml:"list_directories"`
	// Precompressed serves "x.br" or "x.gz" for "x" to a client whose
	// Accept-Encoding allows it (brotli preferred), with Content-Encoding,
	// the original's Content-Type, and Vary: Accept-Encoding on every
	// file response.
	Precompressed bool `toml:"precompressed"`
	// FollowSymlinks lets symlinks lead anywhere; by default a path whose
	// target is outside Root is answered 404.
	FollowSymlinks bool `toml:"follow_symlinks"`
	// CacheControl is sent with every file response ("" sends none).
	CacheControl string `toml:"cache_control"`
	// Hidden serves names starting with '.'; by default they are 404.
	Hidden bool `toml:"hidden"`

	// ServeFile options for the identity, br and gzip representations,
	// built once by Validate so a request allocates none.
	opts, brOpts, gzOpts []http.ServeOption
	// root is Root opened once per process (loop-only): opening it for
	// every request cost two system calls of the five a small file needs.
	// A deploy that swaps a "current" symlink is picked up by reload, which
	// starts new processes.
	root *os.Root
}

// New returns a Handler with the defaults: index.html, precompressed
// siblings on, everything else off.
func New() *Handler {
	return &Handler{Index: []string{"index.html"}, Precompressed: true}
}

var _ workerman.Handler = (*Handler)(nil)
var _ workerman.Validator = (*Handler)(nil)

// Validate checks the options and makes Root absolute.
func (h *Handler) Validate() error {
	if h.Root == "" {
		return errors.New("root: required")
	}
	abs, err := filepath.Abs(h.Root)
	if err != nil {
		return fmt.Errorf("root %q: %w", h.Root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("root %q is not a directory", h.Root)
	}
	h.Root = abs
	for _, name := range h.Index {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return fmt.Errorf("index: %q is not a file name", name)
		}
	}
	if !http.ValidFieldValue(h.CacheControl) {
		return fmt.Errorf("cache_control: %q holds a control character", h.CacheControl)
	}
	h.opts = nil
	if h.CacheControl != "" {
		h.opts = append(h.opts, http.ServeCacheControl(h.CacheControl))
	}
	if h.Precompressed {
		h.opts = append(h.opts, http.ServeVary("Accept-Encoding"))
	}
	h.brOpts = append(slices.Clip(h.opts), http.ServeContentEncoding("br"))
	h.gzOpts = append(slices.Clip(h.opts), http.ServeContentEncoding("gzip"))
	return nil
}

// Attach sets the worker's OnMessage; the worker must speak http://.
func (h *Handler) Attach(w *workerman.Worker) error {
	w.OnMessage = func(c *workerman.Connection, m workerman.Message) {
		req, ok := m.Value.(*http.Request)
		if !ok {
			c.Close()
			return
		}
		c.SendValue(h.Respond(req))
	}
	return nil
}

var (
	pageBadRequest = "<h3>400 Bad Request</h3>"
	pageForbidden  = "<h3>403 Forbidden</h3>"
	pageNotFound   = "<h3>404 Not Found</h3>"
)

// Respond is the handler's answer to req, without a connection: what
// OnMessage sends. Validate must have run (NewHandler runs it).
func (h *Handler) Respond(req *http.Request) *http.Response {
	switch req.Method() {
	case "GET", "HEAD":
	default:
		r := http.HTML(405, "<h3>405 Method Not Allowed</h3>")
		r.Header.Add("Allow", "GET, HEAD")
		return r
	}
	segs, dirSlash, status := h.resolve(req.URI())
	if status != 0 {
		return errorPage(status)
	}
	name := "."
	if len(segs) > 0 {
		name = strings.Join(segs, "/")
	}

	var root *os.Root
	if !h.FollowSymlinks {
		if h.root == nil {
			r, err := os.OpenRoot(h.Root)
			if err != nil {
				return fileError(err)
			}
			h.root = r
		}
		root = h.root
	}
	f, err := h.open(root, name)
	if err != nil {
		return fileError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fileError(err)
	}
	if !fi.IsDir() {
		if dirSlash {
			// "/file.txt/": nginx answers 404 too, rather than serving
			// a file under a directory's name.
			f.Close()
			return errorPage(404)
		}
		return h.serveFile(req, root, name, f)
	}

	if !dirSlash {
		f.Close()
		loc := escapePath(segs) + "/"
		if q := req.QueryString(); q != "" {
			loc += "?" + q
		}
		return http.Redirect(301, loc)
	}
	for _, idx := range h.Index {
		p := path.Join(name, idx)
		ff, err := h.open(root, p)
		if err != nil {
			continue
		}
		if st, err := ff.Stat(); err != nil || !st.Mode().IsRegular() {
			ff.Close()
			continue
		}
		f.Close()
		return h.serveFile(req, root, p, ff)
	}
	defer f.Close()
	if !h.ListDirectories {
		return errorPage(403)
	}
	return h.listing(f, segs)
}

// open opens name (slash-separated, clean, relative) under Root, through
// root when symlinks must stay inside. O_NONBLOCK keeps a FIFO planted in
// the tree from blocking the loop in open(2); regular files ignore it.
func (h *Handler) open(root *os.Root, name string) (*os.File, error) {
	const flags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	if root != nil {
		return root.OpenFile(name, flags, 0)
	}
	return os.OpenFile(filepath.Join(h.Root, filepath.FromSlash(name)), flags, 0)
}

// serveFile answers with f (named name), or with a precompressed sibling
// (whose Content-Type ServeOpenFile takes from name, the original's).
func (h *Handler) serveFile(req *http.Request, root *os.Root, name string, f *os.File) *http.Response {
	if h.Precompressed {
		if ae := req.Header("Accept-Encoding"); ae != "" {
			for _, enc := range [...]struct {
				coding, ext string
				opts        []http.ServeOption
			}{{"br", ".br", h.brOpts}, {"gzip", ".gz", h.gzOpts}} {
				if !acceptsEncoding(ae, enc.coding) {
					continue
				}
				cf, err := h.open(root, name+enc.ext)
				if err != nil {
					continue
				}
				if st, err := cf.Stat(); err != nil || !st.Mode().IsRegular() {
					cf.Close()
					continue
				}
				f.Close()
				return http.ServeOpenFile(req, cf, name, enc.opts...)
			}
		}
	}
	return http.ServeOpenFile(req, f, name, h.opts...)
}

// resolve turns a request target into clean path segments under the root.
// dirSlash reports a trailing slash. status is non-zero when the target
// must be refused: 400 for a malformed one, 404 for one that tries to leave
// the root or names a hidden file.
func (h *Handler) resolve(target string) (segs []string, dirSlash bool, status int) {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if !strings.HasPrefix(target, "/") {
		// Absolute form: "http://host/path".
		i := strings.Index(target, "://")
		if i < 0 {
			return nil, false, 400
		}
		rest := target[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			return nil, true, 0
		}
		target = rest[j:]
	}
	dirSlash = strings.HasSuffix(target, "/")
	for raw := range strings.SplitSeq(target[1:], "/") {
		seg, err := url.PathUnescape(raw)
		switch {
		case err != nil:
			return nil, false, 400
		case strings.IndexByte(seg, 0) >= 0:
			return nil, false, 400
		case strings.IndexByte(seg, '/') >= 0:
			// An encoded slash would make two segments out of one
			// after the ".." check.
			return nil, false, 404
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return nil, false, 404
		case seg[0] == '.' && !h.Hidden:
			return nil, false, 404
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		dirSlash = true
	}
	return segs, dirSlash, 0
}

// acceptsEncoding reports whether an Accept-Encoding value allows coding:
// listed (or matched by "*") with a q-value above 0.
func acceptsEncoding(ae, coding string) bool {
	star := false
	for part := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		ok := qPositive(params)
		switch {
		case strings.EqualFold(name, coding):
			return ok
		case name == "*":
			star = ok
		}
	}
	return star
}

// qPositive reads the q parameter of an Accept-Encoding element: absent
// means 1; "q=0", "q=0.0" and so on mean "not acceptable".
func qPositive(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		return strings.Trim(v, "0.") != "" || v == ""
	}
	return true
}

func (h *Handler) listing(dir *os.File, segs []string) *http.Response {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return fileError(err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	title := html.EscapeString("/" + strings.Join(segs, "/"))
	if len(segs) > 0 {
		title += "/"
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ")
	b.WriteString(title)
	b.WriteString("</title></head><body>\n<h1>Index of ")
	b.WriteString(title)
	b.WriteString("</h1>\n<ul>\n")
	if len(segs) > 0 {
		b.WriteString("<li><a href=\"../\">../</a></li>\n")
	}
	for _, e := range entries {
		n := e.Name()
		if n[0] == '.' && !h.Hidden {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		// "./" keeps a name like "a:b" from reading as a URL scheme.
		b.WriteString("<li><a href=\"./")
		b.WriteString(html.EscapeString(url.PathEscape(e.Name())))
		if e.IsDir() {
			b.WriteString("/")
		}
		b.WriteString("\">")
		b.WriteString(html.EscapeString(n))
		b.WriteString("</a></li>\n")
	}
	b.WriteString("</ul>\n</body></html>\n")
	return http.HTML(200, b.String())
}

// escapePath builds an absolute path from decoded segments, escaped again:
// a redirect's Location then never starts with "//" (another host) nor
// carries bytes a header may not.
func escapePath(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func errorPage(status int) *http.Response {
	switch status {
	case 400:
		return http.HTML(400, pageBadRequest)
	case 403:
		return http.HTML(403, pageForbidden)
	}
	return http.HTML(404, pageNotFound)
}

// fileError maps an open or stat error. Escaping an os.Root, a symlink
// loop and a path through a file all read as "no such file" to a client.
func fileError(err error) *http.Response {
	if errors.Is(err, fs.ErrPermission) {
		return errorPage(403)
	}
	return errorPage(404)
}
