package http

import (
	"bytes"
	"iter"
	"net/url"
	"strings"
)

// Method is the request method as sent ("GET", "POST", ...; methods are
// case-sensitive, so "get" is not "GET").
func (r *Request) Method() string {
	l := r.indexLine()
	if l.done&reqDoneMethod != 0 {
		return l.methodS
	}
	// The standard methods come back as constants: no copy per request.
	switch string(l.method.of(r.head)) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	l.done |= reqDoneMethod
	l.methodS = r.text(l.method)
	return l.methodS
}

// URI is the request target as sent: "/a%20b?x=1" for an ordinary request,
// "http://host/p?q" in absolute form, "*" for a server-wide OPTIONS.
func (r *Request) URI() string {
	l := r.indexLine()
	return r.headStr()[l.target.a:l.target.b]
}

// Path is the path of the request target without the query, with %XX
// escapes decoded ("+" stays "+"). An absolute-form target
// "http://host/p?q" gives "/p" ("/" when it has no path), "*" gives "*",
// and CONNECT's "host:port" gives "". When the path holds a malformed
// escape, Path returns it undecoded, as sent.
//
// A decoded path may contain any byte, "/" (from %2F) and NUL (from %00)
// included: code that maps paths to files must check for both.
func (r *Request) Path() string {
	l := r.indexLine()
	if l.done&reqDonePath != 0 {
		return l.pathS
	}
	l.done |= reqDonePath
	switch {
	case l.form == reqAsteriskForm:
		l.pathS = "*"
	case l.form == reqAbsoluteForm && l.path.a == l.path.b:
		l.pathS = "/"
	default:
		raw := r.text(l.path)
		l.pathS, _ = reqUnescape(raw, false, true)
	}
	return l.pathS
}

// QueryString is the query of the request target as sent, without the '?'
// (and without any "#fragment"): "" when there is none.
func (r *Request) QueryString() string {
	l := r.indexLine()
	if l.query.a == l.query.b {
		return ""
	}
	return r.headStr()[l.query.a:l.query.b]
}

// ProtocolVersion is the HTTP version the request is handled as: "1.1" or
// "1.0". A later HTTP/1.x is handled, and reported, as "1.1" (RFC 9110
// §2.5).
func (r *Request) ProtocolVersion() string {
	l := r.indexLine()
	p := l.proto.of(r.head)
	switch string(p) {
	case "HTTP/1.1":
		return "1.1"
	case "HTTP/1.0":
		return "1.0"
	}
	if len(p) == 8 && string(p[:7]) == "HTTP/1." && '2' <= p[7] && p[7] <= '9' {
		return "1.1"
	}
	if len(p) > 5 && string(p[:5]) == "HTTP/" {
		return r.headStr()[l.proto.a+5 : l.proto.b]
	}
	return ""
}

// Query is the decoded query string: "+" and %XX decoded, a malformed escape
// kept as written, a name without "=" given the empty value, pairs with an
// empty name dropped, pairs separated by "&" only. Names are literal (PHP's
// "a[]=1&a[]=2" gives the name "a[]" with two values). The map is the
// request's own, made once: changes to it are seen by Get and GetAll.
func (r *Request) Query() url.Values {
	l := r.indexLine()
	if l.done&reqDoneQuery == 0 {
		l.done |= reqDoneQuery
		l.queryV = reqParseQuery(r.headStr()[l.query.a:l.query.b])
	}
	return l.queryV
}

// Get is the first value of the query parameter name ("" when absent; see
// Query for the decoding).
func (r *Request) Get(name string) string {
	if vs := r.Query()[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// GetAll is every value of the query parameter name, in order (nil when
// absent).
func (r *Request) GetAll(name string) []string {
	return r.Query()[name]
}

// Header is the value of the header field name, compared case-insensitively;
// repeated fields are joined with ", " (RFC 9110 §5.3). "" when absent.
func (r *Request) Header(name string) string {
	fs := r.indexFields()
	first, n := -1, 0
	for i := range fs {
		if reqEqualFold(fs[i].name.of(r.head), name) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	s := r.headStr()
	if n == 1 {
		return s[fs[first].value.a:fs[first].value.b]
	}
	var b strings.Builder
	for _, f := range fs[first:] {
		if reqEqualFold(f.name.of(r.head), name) {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s[f.value.a:f.value.b])
		}
	}
	return b.String()
}

// firstHeader is the value of the first field named name, not joined: for
// fields that cannot be lists (Content-Type, Content-Length, X-Real-IP).
func (r *Request) firstHeader(name string) (string, bool) {
	for _, f := range r.indexFields() {
		if reqEqualFold(f.name.of(r.head), name) {
			return r.headStr()[f.value.a:f.value.b], true
		}
	}
	return "", false
}

// HeaderValues is the value of each field named name (case-insensitive),
// in order; nil when absent.
func (r *Request) HeaderValues(name string) []string {
	var out []string
	for _, f := range r.indexFields() {
		if reqEqualFold(f.name.of(r.head), name) {
			out = append(out, r.headStr()[f.value.a:f.value.b])
		}
	}
	return out
}

// Headers yields every header field in the order received, names in lower
// case, each repeated field separately.
func (r *Request) Headers() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := r.headStr()
		for _, f := range r.indexFields() {
			if !yield(reqLower(s[f.name.a:f.name.b]), s[f.value.a:f.value.b]) {
				return
			}
		}
	}
}

// reqLower lower-cases ASCII letters, without copying names that already
// are (the usual case with HTTP/2-era clients).
func reqLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// ContentType is the Content-Type field as sent, parameters included
// ("" when absent).
func (r *Request) ContentType() string {
	v, _ := r.firstHeader("content-type")
	return v
}

// ContentLength is the length of the body: the Content-Length field, or the
// length of the de-chunked body of a chunked request; -1 when the request
// says neither (and so has no body).
func (r *Request) ContentLength() int64 {
	if v, ok := r.firstHeader("content-length"); ok {
		var n int64
		if v == "" || len(v) > 18 {
			return -1
		}
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return -1
			}
			n = n*10 + int64(v[i]-'0')
		}
		return n
	}
	if len(r.body) > 0 || r.hasToken("transfer-encoding", "chunked") {
		return int64(len(r.body))
	}
	return -1
}

// hasToken reports whether a comma-separated list in the fields named name
// holds token (both ASCII case-insensitive).
func (r *Request) hasToken(name, token string) bool {
	for _, f := range r.indexFields() {
		if !reqEqualFold(f.name.of(r.head), name) {
			continue
		}
		v := f.value.of(r.head)
		for len(v) > 0 {
			e := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				e, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			if reqEqualFold(reqTrimOWS(e), token) {
				return true
			}
		}
	}
	return false
}

func reqTrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// Host is the host the request is for: the authority of an absolute-form
// target (which RFC 9112 §3.2.2 says overrides Host), else the Host field.
// With withoutPort, a ":port" suffix is removed ("[::1]:8080" gives
// "[::1]").
func (r *Request) Host(withoutPort bool) string {
	l := r.indexLine()
	var h string
	if l.form == reqAbsoluteForm {
		h = r.headStr()[l.authority.a:l.authority.b]
		if i := strings.LastIndexByte(h, '@'); i >= 0 {
			h = h[i+1:]
		}
	} else {
		h, _ = r.firstHeader("host")
	}
	if !withoutPort {
		return h
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	// One colon only: a bare IPv6 address (invalid in Host, but users may
	// build such requests) has no port to cut.
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.LastIndexByte(h, ':') == i {
		return h[:i]
	}
	return h
}

// KeepAlive reports whether the connection persists after this request by
// RFC 9112 §9.3: an HTTP/1.1 request unless a Connection field says "close";
// an HTTP/1.0 request only if one says "keep-alive" (and none "close").
func (r *Request) KeepAlive() bool {
	if r.hasToken("connection", "close") {
		return false
	}
	if string(r.indexLine().proto.of(r.head)) == "HTTP/1.1" {
		return true
	}
	return r.hasToken("connection", "keep-alive")
}
