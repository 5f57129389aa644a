package http

import (
	"bytes"
	"net/url"
	"os"
)

// reqSpan is a range of offsets into the head (or the trailer).
type reqSpan struct{ a, b int }

func (s reqSpan) of(b []byte) []byte { return b[s.a:s.b] }

// reqField is a header field line's name and value (OWS trimmed) as offsets:
// offsets, not slices, so that a reused index holds no pointers into an old
// request's buffer.
type reqField struct{ name, value reqSpan }

// Bits of requestLazy.done: one per lazy result.
const (
	reqDoneLine = 1 << iota
	reqDoneStr
	reqDoneMethod
	reqDonePath
	reqDoneFields
	reqDoneQuery
	reqDoneBody
	reqDoneCookies
	reqDoneTrailer
	reqDoneTrailerStr
)

// The kinds of request target (RFC 9112 §3.2).
const (
	reqOriginForm = iota
	reqAbsoluteForm
	reqAsteriskForm
	reqAuthorityForm // CONNECT's host:port, or anything unrecognised
)

// requestLazy holds what a Request computes on demand, each at most once per
// Reset.
type requestLazy struct {
	done uint16

	// The request line, indexed leniently so that any bytes give an answer.
	method, target, proto reqSpan
	path, query           reqSpan // parts of target; query without the '?'
	authority             reqSpan // absolute-form only
	form                  uint8
	fieldsAt              int // offset of the first header line

	str     string // string(head): one copy that every string result slices
	methodS string
	pathS   string
	fields  []reqField

	queryV  url.Values
	formV   url.Values
	files   map[string][]*UploadedFile
	bodyErr error
	tmp     []string // temp files to remove on release

	cookies map[string]string

	trailerFields []reqField
	trailerStr    string
}

func (l *requestLazy) release() {
	// The hot path (method and path, maybe a header) clears just what it
	// set: zeroing the whole struct costs write barriers on every request.
	const cheap = reqDoneLine | reqDoneMethod | reqDonePath | reqDoneFields
	if l.done&^cheap == 0 {
		l.done = 0
		l.methodS, l.pathS = "", ""
		return
	}
	for _, p := range l.tmp {
		// A handler may have moved the file away to keep it: ENOENT is fine,
		// and there is nobody to report another failure to.
		_ = os.Remove(p)
	}
	*l = requestLazy{fields: l.fields[:0], trailerFields: l.trailerFields[:0]}
}

// removeTemp removes the temp files of a failed multipart parse.
func (l *requestLazy) removeTemp() {
	for _, p := range l.tmp {
		_ = os.Remove(p)
	}
	l.tmp = nil
}

// reqLineEnd finds the line starting at pos: it returns where its content
// ends (before CRLF or a bare LF) and where the next line starts. A head
// without a final line end is taken as ending there.
func reqLineEnd(b []byte, pos int) (end, next int) {
	end, next = len(b), len(b)
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		end, next = pos+i, pos+i+1
	}
	if end > pos && b[end-1] == '\r' {
		end--
	}
	return end, next
}

// indexLine splits the request line. It never fails: missing parts are
// empty, so that requests built by users from arbitrary bytes answer
// something instead of panicking. Heads from the server were already
// validated by the strict parser.
func (r *Request) indexLine() *requestLazy {
	l := &r.lazy
	if l.done&reqDoneLine != 0 {
		return l
	}
	l.done |= reqDoneLine
	h := r.head
	pos := 0
	// Empty lines before the request line are allowed (RFC 9112 §2.2).
	for pos < len(h) {
		if h[pos] == '\n' {
			pos++
		} else if h[pos] == '\r' && pos+1 < len(h) && h[pos+1] == '\n' {
			pos += 2
		} else {
			break
		}
	}
	end, next := reqLineEnd(h, pos)
	l.fieldsAt = next
	sp1 := pos + reqIndexOrLen(h[pos:end], ' ')
	l.method = reqSpan{pos, sp1}
	if sp1 == end {
		l.target, l.proto = reqSpan{end, end}, reqSpan{end, end}
	} else {
		sp2 := sp1 + 1 + reqIndexOrLen(h[sp1+1:end], ' ')
		l.target = reqSpan{sp1 + 1, sp2}
		l.proto = reqSpan{min(sp2+1, end), end}
	}
	r.splitTarget(l)
	return l
}

func reqIndexOrLen(b []byte, c byte) int {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return i
	}
	return len(b)
}

// splitTarget finds the path, the query and (for absolute-form) the
// authority of the request target.
func (r *Request) splitTarget(l *requestLazy) {
	t := l.target.of(r.head)
	base := l.target.a
	l.form = reqOriginForm
	start := 0
	switch {
	case len(t) == 0:
		l.form = reqAuthorityForm
	case t[0] == '/':
	case len(t) == 1 && t[0] == '*':
		l.form = reqAsteriskForm
	default:
		i := reqSchemeLen(t)
		if i == 0 || !bytes.HasPrefix(t[i:], []byte("://")) {
			l.form = reqAuthorityForm
			l.path = reqSpan{base, base}
			l.query = reqSpan{base + len(t), base + len(t)}
			return
		}
		l.form = reqAbsoluteForm
		as := i + 3
		ae := as
		for ae < len(t) && t[ae] != '/' && t[ae] != '?' && t[ae] != '#' {
			ae++
		}
		l.authority = reqSpan{base + as, base + ae}
		start = ae
	}
	pe := start
	for pe < len(t) && t[pe] != '?' && t[pe] != '#' {
		pe++
	}
	l.path = reqSpan{base + start, base + pe}
	qs, qe := pe, pe
	if pe < len(t) && t[pe] == '?' {
		qs = pe + 1
		qe = qs + reqIndexOrLen(t[qs:], '#')
	}
	l.query = reqSpan{base + qs, base + qe}
}

// reqSchemeLen is the length of the URI scheme at the start of t (RFC 3986
// §3.1), 0 if there is none.
func reqSchemeLen(t []byte) int {
	if len(t) == 0 || !reqIsAlpha(t[0]) {
		return 0
	}
	i := 1
	for i < len(t) && (reqIsAlpha(t[i]) || ('0' <= t[i] && t[i] <= '9') || t[i] == '+' || t[i] == '-' || t[i] == '.') {
		i++
	}
	return i
}

func reqIsAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// headStr is the head as a string, made once: every string a Request
// returns is a slice of it (or of another copy), never of the server's
// buffer, so strings stay immutable even after the buffer is reused.
func (r *Request) headStr() string {
	l := &r.lazy
	if l.done&reqDoneStr == 0 {
		l.done |= reqDoneStr
		l.str = string(r.head)
	}
	return l.str
}

// text returns the head bytes of s as a string: a slice of the head string
// when it exists, else a copy of just those bytes (the cheaper choice for
// the hot path, which asks for the path only).
func (r *Request) text(s reqSpan) string {
	if r.lazy.done&reqDoneStr != 0 {
		return r.lazy.str[s.a:s.b]
	}
	return string(s.of(r.head))
}

// indexFields indexes the header fields once.
func (r *Request) indexFields() []reqField {
	l := r.indexLine()
	if l.done&reqDoneFields == 0 {
		l.done |= reqDoneFields
		l.fields = reqIndexFields(r.head, l.fieldsAt, l.fields[:0])
	}
	return l.fields
}

// reqIndexFields appends the field lines of b from pos up to the first
// empty line. Lines that are not fields (no colon, an empty name, a
// continuation line) are skipped rather than refused: the server's strict
// parser has already refused them in real requests.
func reqIndexFields(b []byte, pos int, out []reqField) []reqField {
	for pos < len(b) {
		end, next := reqLineEnd(b, pos)
		if end == pos {
			break
		}
		if c := b[pos]; c != ' ' && c != '\t' {
			if colon := bytes.IndexByte(b[pos:end], ':'); colon > 0 {
				vs, ve := pos+colon+1, end
				for vs < ve && (b[vs] == ' ' || b[vs] == '\t') {
					vs++
				}
				for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
					ve--
				}
				out = append(out, reqField{reqSpan{pos, pos + colon}, reqSpan{vs, ve}})
			}
		}
		pos = next
	}
	return out
}

// reqEqualFold reports whether b equals s ignoring ASCII case.
func reqEqualFold(b []byte, s string) bool { return equalFold(b, s) }
