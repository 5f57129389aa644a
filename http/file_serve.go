package http

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// DefaultInlineLimit is the size up to which ServeFile reads a file into
// Body instead of leaving it to sendfile(2): for a small file one write of
// head and body together beats a write plus a sendfile, and the file is
// closed before the response leaves the handler.
const DefaultInlineLimit = 64 << 10

// ServeOption adjusts ServeFile.
type ServeOption func(*serveConfig)

type serveConfig struct {
	contentType, contentEncoding, cacheControl, vary string
	inlineLimit                                      int64
}

// ServeContentType sets the Content-Type instead of deriving it from the
// name's extension (for a precompressed sibling served for the original).
func ServeContentType(ct string) ServeOption {
	return func(c *serveConfig) { c.contentType = ct }
}

// ServeContentEncoding adds Content-Encoding (for a precompressed file).
func ServeContentEncoding(coding string) ServeOption {
	return func(c *serveConfig) { c.contentEncoding = coding }
}

// ServeCacheControl adds Cache-Control (to 200, 206 and 304 alike).
func ServeCacheControl(v string) ServeOption {
	return func(c *serveConfig) { c.cacheControl = v }
}

// ServeVary adds Vary (to 200, 206 and 304 alike).
func ServeVary(v string) ServeOption {
	return func(c *serveConfig) { c.vary = v }
}

// ServeInlineLimit sets the size up to which the file is read into Body
// (DefaultInlineLimit when not given; a negative limit never reads).
func ServeInlineLimit(n int64) ServeOption {
	return func(c *serveConfig) { c.inlineLimit = n }
}

// ServeFile answers req with the regular file at path, as nginx and
// net/http serve a single file (a nil req is a plain GET):
//
//   - Content-Type from the extension (ContentTypeOf), Last-Modified, ETag
//     and Accept-Ranges: bytes.
//   - The ETag is "<size in hex>-<mtime in ns, hex>": any write that keeps
//     the size changes the nanosecond mtime, so it is used as a strong
//     validator (for If-Match and If-Range) as nginx does with its
//     second-resolution equivalent. It differs between servers only if
//     their copies differ in size or mtime.
//   - Preconditions in RFC 9110 §13.2.2's order: If-Match (strong
//     comparison, "*" matches) or else If-Unmodified-Since failing → 412;
//     If-None-Match (weak comparison, lists, "*") or else, for GET and
//     HEAD, If-Modified-Since → 304 with ETag and Last-Modified and no
//     body (If-None-Match matching for another method → 412).
//   - Range, for GET only: one range, "bytes=a-b", "a-" or "-n", gives 206
//     with Content-Range; a range that starts past the end (or any range of
//     an empty file) gives 416 with "Content-Range: bytes */size". Several
//     ranges are answered with the whole file, 200: multipart/byteranges is
//     not implemented (RFC 9110 lets a server ignore Range). A malformed
//     Range or another unit is ignored. If-Range (an entity-tag, compared
//     strongly, or the exact Last-Modified date) that does not match turns
//     the request into a plain GET.
//   - A missing file, or one that is not a regular file, gives 404 with
//     Workerman's text/html "<h3>404 Not Found</h3>"; a permission error
//     403; anything else 500.
//
// Up to the inline limit (DefaultInlineLimit) the bytes to send are read
// into Body and the file is closed. A larger file stays open in the
// response: the server sends the selected bytes with sendfile(2) and closes
// it, as it does for a HEAD request (which never reads the file). The
// response carries no Content-Length: the encoder derives it. Reading and
// stat(2) block the calling goroutine; on the event loop that is what
// nginx without aio and Workerman do too.
func ServeFile(req *Request, path string, opts ...ServeOption) *Response {
	fb := &fileBody{Path: path}
	if err := fb.Open(); err != nil {
		return errorResponse(err)
	}
	return serve(req, fb, path, opts)
}

// ServeOpenFile is ServeFile for a file the caller opened, named name (for
// its Content-Type). It takes f over: f is closed, or handed to the encoder
// in the response, in every case.
func ServeOpenFile(req *Request, f *os.File, name string, opts ...ServeOption) *Response {
	fb := &fileBody{Path: name, File: f}
	if err := fb.Open(); err != nil {
		return errorResponse(err)
	}
	return serve(req, fb, name, opts)
}

// errorResponse maps a file error to the page a client sees.
func errorResponse(err error) *Response {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFound()
	case errors.Is(err, fs.ErrPermission):
		return HTML(403, "<h3>403 Forbidden</h3>")
	}
	return HTML(500, "<h3>500 Internal Server Error</h3>")
}

func serve(req *Request, fb *fileBody, name string, opts []ServeOption) *Response {
	cfg := serveConfig{inlineLimit: DefaultInlineLimit}
	for _, o := range opts {
		o(&cfg)
	}
	method, header := "GET", func(string) string { return "" }
	if req != nil {
		method, header = req.Method(), req.Header
	}
	getOrHead := method == "GET" || method == "HEAD"
	mtime := fb.ModTime.Truncate(time.Second)
	etag := makeETag(fb.Size, fb.ModTime)
	lastMod := string(AppendHTTPDate(make([]byte, 0, len(imfFixdate)), fb.ModTime))

	r := &Response{Status: 200, Header: make(Header, 0, 8)}
	validators := func() {
		r.Header = append(r.Header, Field{"ETag", etag}, Field{"Last-Modified", lastMod})
		if cfg.cacheControl != "" {
			r.Header = append(r.Header, Field{"Cache-Control", cfg.cacheControl})
		}
		if cfg.vary != "" {
			r.Header = append(r.Header, Field{"Vary", cfg.vary})
		}
	}
	bare := func(status int) *Response {
		fb.Close()
		r.Status = status
		validators()
		return r
	}

	if im := header("If-Match"); im != "" {
		if !etagListMatch(im, etag, true) {
			return bare(412)
		}
	} else if ius := header("If-Unmodified-Since"); ius != "" {
		if t, err := ParseHTTPDate(ius); err == nil && mtime.After(t) {
			return bare(412)
		}
	}
	if inm := header("If-None-Match"); inm != "" {
		if etagListMatch(inm, etag, false) {
			if getOrHead {
				return bare(304)
			}
			return bare(412)
		}
	} else if ims := header("If-Modified-Since"); ims != "" && getOrHead {
		if t, err := ParseHTTPDate(ims); err == nil && !mtime.After(t) {
			return bare(304)
		}
	}

	start, length := int64(0), fb.Size
	if rng := header("Range"); rng != "" && method == "GET" && ifRangeHolds(header("If-Range"), etag, mtime) {
		s, n, kind := parseRange(rng, fb.Size)
		switch kind {
		case rangeOne:
			r.Status, start, length = 206, s, n
		case rangeUnsatisfiable:
			fb.Close()
			r.Status = 416
			r.Header = append(r.Header, Field{"Content-Range", "bytes */" + strconv.FormatInt(fb.Size, 10)})
			return r
		}
	}

	ct := cfg.contentType
	if ct == "" {
		ct = ContentTypeOf(name)
	}
	r.Header = append(r.Header, Field{"Content-Type", ct})
	if cfg.contentEncoding != "" {
		r.Header = append(r.Header, Field{"Content-Encoding", cfg.contentEncoding})
	}
	validators()
	r.Header = append(r.Header, Field{"Accept-Ranges", "bytes"})
	if r.Status == 206 {
		r.Header = append(r.Header, Field{"Content-Range", contentRange(start, length, fb.Size)})
	}

	fb.Offset, fb.Length = start, length
	fb.ready = true
	if method != "HEAD" && length <= cfg.inlineLimit {
		b, err := fb.readAll()
		if err != nil {
			return errorResponse(err)
		}
		r.Body = b
		return r
	}
	r.file = fb
	return r
}

// makeETag builds "<size hex>-<mtime ns hex>".
func makeETag(size int64, mtime time.Time) string {
	b := make([]byte, 0, 36)
	b = append(b, '"')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, mtime.UnixNano(), 16)
	return string(append(b, '"'))
}

// etagListMatch reports whether the If-Match / If-None-Match value list
// ("*" or a comma-separated list of entity-tags) names etag, a strong tag.
// Strong comparison (If-Match) never matches a weak tag; weak comparison
// (If-None-Match) ignores the W/ prefix. A malformed element ends the
// scan: what was read before still counts.
func etagListMatch(list, etag string, strong bool) bool {
	if trimOWS(list) == "*" {
		return true
	}
	s := list
	for {
		for s != "" && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
			s = s[1:]
		}
		if s == "" {
			return false
		}
		weak := false
		if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
			weak, s = true, s[2:]
		}
		if s == "" || s[0] != '"' {
			return false
		}
		end := 1
		for end < len(s) && s[end] != '"' {
			end++
		}
		if end == len(s) {
			return false
		}
		tag := s[:end+1]
		s = s[end+1:]
		if tag == etag && !(strong && weak) {
			return true
		}
	}
}

// ifRangeHolds reports whether a Range may be honoured given If-Range:
// absent, or an entity-tag equal to etag (strongly), or a date equal to the
// file's Last-Modified.
func ifRangeHolds(ifRange, etag string, mtime time.Time) bool {
	ifRange = trimOWS(ifRange)
	switch {
	case ifRange == "":
		return true
	case ifRange[0] == '"':
		return ifRange == etag
	case len(ifRange) > 1 && ifRange[0] == 'W' && ifRange[1] == '/':
		return false
	}
	t, err := ParseHTTPDate(ifRange)
	return err == nil && t.Equal(mtime)
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

type rangeKind int

const (
	rangeIgnore        rangeKind = iota // no usable Range: send the whole file
	rangeOne                            // one satisfiable range: 206
	rangeMultiple                       // several ranges: the whole file, 200
	rangeUnsatisfiable                  // 416
)

// parseRange reads a Range value for a representation of size bytes. For
// rangeOne it returns the first byte and the length (≥ 1). A syntax error
// anywhere, or a unit other than bytes, gives rangeIgnore, as RFC 9110
// §14.2 lets a server ignore a Range it cannot use. Several ranges give
// rangeMultiple when at least one is satisfiable, else rangeUnsatisfiable.
func parseRange(s string, size int64) (start, length int64, kind rangeKind) {
	if len(s) < 6 || !equalFold(s[:6], "bytes=") {
		return 0, 0, rangeIgnore
	}
	s = s[6:]
	n, satisfiable := 0, 0
	for s != "" {
		elem := s
		if i := indexByte(s, ','); i >= 0 {
			elem, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		elem = trimOWS(elem)
		if elem == "" {
			continue // an empty list element is allowed (RFC 9110 §5.6.1)
		}
		n++
		dash := indexByte(elem, '-')
		if dash < 0 {
			return 0, 0, rangeIgnore
		}
		first, last := elem[:dash], elem[dash+1:]
		var a, b int64
		if first == "" {
			// "-n": the last n bytes.
			sfx, ok := rangeNumber(last)
			if !ok {
				return 0, 0, rangeIgnore
			}
			if sfx == 0 || size == 0 {
				continue
			}
			a, b = max(size-sfx, 0), size-1
		} else {
			var ok bool
			if a, ok = rangeNumber(first); !ok {
				return 0, 0, rangeIgnore
			}
			b = size - 1
			if last != "" {
				if b, ok = rangeNumber(last); !ok || b < a {
					return 0, 0, rangeIgnore
				}
			}
			if a >= size {
				continue
			}
			b = min(b, size-1)
		}
		satisfiable++
		if satisfiable == 1 {
			start, length = a, b-a+1
		}
	}
	switch {
	case n == 0:
		return 0, 0, rangeIgnore
	case satisfiable == 0:
		return 0, 0, rangeUnsatisfiable
	case n > 1:
		return 0, 0, rangeMultiple
	}
	return start, length, rangeOne
}

// rangeNumber parses 1*DIGIT, saturating at the largest int64: a position
// beyond any file is as good as infinity.
func rangeNumber(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<63-1-9)/10 {
			v = 1<<63 - 1
			continue
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
