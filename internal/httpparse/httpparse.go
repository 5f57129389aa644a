// Package httpparse is a strict, incremental, zero-copy HTTP/1.1 request-head
// parser and chunked-body decoder: the framing layer of the http:// protocol.
//
// It is deliberately strict (RFC 9112 plus the request-smuggling defences of
// Workerman v5.2): bare LF, obs-fold, whitespace before the colon, duplicate
// Host or Content-Length, Content-Length together with Transfer-Encoding,
// Transfer-Encoding in HTTP/1.0 and any transfer coding other than a single
// "chunked" are all refused with the status the server should answer.
//
// Incremental means the caller passes the whole buffered input on every call:
// ParseHead answers (0, nil) until the head is complete, and the answer for a
// prefix of the input is always either "incomplete" or the answer for the
// whole input, so how the bytes were split never changes the result.
package httpparse

import (
	"bytes"
	"strconv"
)

// Default limits, used when a Limits field is zero or negative.
const (
	DefaultMaxHeaderBytes = 16384
	DefaultMaxHeaders     = 100
)

// Limits bounds a request head.
type Limits struct {
	// MaxHeaderBytes bounds the whole head (request line, fields and the
	// blank line). A longer head, or an unterminated one of at least this
	// many bytes, is refused with 431.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields (431 beyond it).
	MaxHeaders int
}

// Header is one header field. Name and Value are slices into the input
// buffer: valid only as long as the buffer is. Value has its surrounding
// whitespace trimmed.
type Header struct{ Name, Value []byte }

// Request is a parsed request head. Its byte slices point into the buffer
// given to ParseHead. A Request may be reused: ParseHead resets every field
// and appends to Headers[:0], so a warm Request parses without allocating.
type Request struct {
	Method, Target, Proto []byte // Proto as sent: "HTTP/1.1", "HTTP/1.0", "HTTP/1.2"...
	Major, Minor          int    // the version handled: 1.0 or 1.1 (1.2 and later are 1.1)
	Headers               []Header
	Host                  []byte // the single Host value (nil when absent, HTTP/1.0 only)
	ContentLength         int64  // -1 when absent
	Chunked               bool   // Transfer-Encoding: chunked
	KeepAlive             bool   // RFC 9112 persistence
	ExpectContinue        bool   // Expect: 100-continue on HTTP/1.1
	HeadLen               int    // bytes of the head, through the blank line
}

// Header returns the value of the first field named name (ASCII
// case-insensitive; name must be lower case), or nil.
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		if equalFoldLower(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

// Error is a refusal: the HTTP status to answer (400, 413, 431, 501, 505)
// and a short reason for logs. Errors returned by this package are shared
// values: do not modify them.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return "http " + strconv.Itoa(e.Status) + ": " + e.Reason
}

func newErr(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// The refusals, shared so that the error paths do not allocate either.
var (
	errBareLF          = newErr(400, "bare LF")
	errHeadTooLarge    = newErr(431, "request header block too large")
	errTooManyHeaders  = newErr(431, "too many header fields")
	errRequestLine     = newErr(400, "malformed request line")
	errMethod          = newErr(400, "method is not a token")
	errTarget          = newErr(400, "malformed request target")
	errVersion         = newErr(505, "HTTP version not supported")
	errObsFold         = newErr(400, "obsolete line folding")
	errNoColon         = newErr(400, "header field without a colon")
	errFieldName       = newErr(400, "header field name is not a token")
	errFieldValue      = newErr(400, "invalid character in header field value")
	errNoHost          = newErr(400, "missing Host header")
	errDupHost         = newErr(400, "duplicate Host header")
	errBadHost         = newErr(400, "malformed Host header")
	errBadCL           = newErr(400, "malformed Content-Length")
	errDupCL           = newErr(400, "duplicate Content-Length")
	errHugeCL          = newErr(413, "Content-Length too large")
	errCLAndTE         = newErr(400, "both Content-Length and Transfer-Encoding")
	errTE10            = newErr(400, "Transfer-Encoding in HTTP/1.0")
	errBadTE           = newErr(400, "malformed Transfer-Encoding")
	errChunkedNotLast  = newErr(400, "chunked is not the final transfer coding")
	errUnknownCoding   = newErr(501, "unsupported transfer coding")
	errChunkLine       = newErr(400, "chunk size line too long")
	errChunkHex        = newErr(400, "invalid chunk size")
	errChunkOverflow   = newErr(400, "chunk size overflows")
	errChunkExt        = newErr(400, "malformed chunk extension")
	errChunkCRLF       = newErr(400, "chunk data not followed by CRLF")
	errTrailerTooLarge = newErr(431, "trailer section too large")
	errTooManyTrailers = newErr(431, "too many trailer fields")
)

// tchar per RFC 9110 §5.6.2.
var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool { return IsToken(b) }

// IsToken reports whether b is a non-empty RFC 9110 token: what a method,
// a field name or a cookie name must be.
func IsToken[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !isTchar[b[i]] {
			return false
		}
	}
	return true
}

// equalFoldLower reports whether b equals lower (an ASCII lower-case string)
// ignoring ASCII case.
func equalFoldLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

var (
	lfCRLF = []byte("\n\r\n")
	lfLF   = []byte("\n\n")
)

// nextLine returns the line starting at pos in win (without its CRLF) and
// the offset after it; ok is false when no LF follows pos in win. A LF not
// preceded by CR is errBareLF.
func nextLine(win []byte, pos int) (line []byte, next int, ok bool, err *Error) {
	i := bytes.IndexByte(win[pos:], '\n')
	if i < 0 {
		return nil, 0, false, nil
	}
	if i == 0 || win[pos+i-1] != '\r' {
		return nil, 0, false, errBareLF
	}
	return win[pos : pos+i-1], pos + i + 1, true, nil
}

// parseField validates a field line (RFC 9112 §5): a token name, the colon
// right after it, and a value of visible characters, SP, HTAB and obs-text.
func parseField(line []byte) (name, value []byte, err *Error) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil, nil, errNoColon
	}
	name = line[:colon]
	if !isToken(name) {
		return nil, nil, errFieldName
	}
	value = trimOWS(line[colon+1:])
	for _, c := range value {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return nil, nil, errFieldValue
		}
	}
	return name, value, nil
}

// withDefaults fills zero or negative limits with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	return l
}

// ParseHead parses the request head at the start of buf into r. It returns
// (0, nil) when the head is incomplete, (n, nil) with n = r.HeadLen when it
// is complete, or an *Error with the status to answer when the head is
// malformed or over a limit. Empty lines before the request line are skipped
// (RFC 9112 §2.2) and counted in HeadLen. Nothing after the head is looked at.
func ParseHead(buf []byte, r *Request, lim Limits) (int, error) {
	lim = lim.withDefaults()
	maxBytes, maxHeaders := lim.MaxHeaderBytes, lim.MaxHeaders
	win := buf[:min(len(buf), maxBytes)]
	// Most heads are complete and plain: one pass accepts them. Anything
	// else (an incomplete head, a byte it does not expect, any refusal) is
	// decided by the line-by-line parser below, from the start.
	if n, ok := parseHeadFast(win, maxHeaders, r); ok {
		return n, nil
	}
	// Cheap wait: every head ends in "\n\r\n" (or "\n\n", which is refused),
	// so without one and below the limit there is nothing to decide yet.
	if len(buf) < maxBytes && bytes.Index(win, lfCRLF) < 0 && bytes.Index(win, lfLF) < 0 {
		return 0, nil
	}
	n, err := parseHead(win, len(buf) >= maxBytes, maxHeaders, r)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// headState is what the fields seen so far decide about the request; both
// parsers feed it the same fields in the same order.
type headState struct {
	hosts, cls            int
	teSeen, teBad         bool
	teChunked, teUnknown  int
	teLastChunked         bool
	connClose, connKAlive bool
}

// field applies one valid field line to r and s.
func (s *headState) field(r *Request, name, value []byte) *Error {
	switch len(name) {
	case 4:
		if equalFoldLower(name, "host") {
			if s.hosts++; s.hosts > 1 {
				return errDupHost
			}
			if !validHost(value) {
				return errBadHost
			}
			r.Host = value
		}
	case 6:
		if equalFoldLower(name, "expect") && equalFoldLower(value, "100-continue") {
			r.ExpectContinue = true
		}
	case 10:
		if equalFoldLower(name, "connection") {
			// A single element, the usual case, needs no list walk.
			switch {
			case equalFoldLower(value, "keep-alive"):
				s.connKAlive = true
			case equalFoldLower(value, "close"):
				s.connClose = true
			default:
				forEachElement(value, func(e []byte) {
					if equalFoldLower(e, "close") {
						s.connClose = true
					} else if equalFoldLower(e, "keep-alive") {
						s.connKAlive = true
					}
				})
			}
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			if s.cls++; s.cls > 1 {
				return errDupCL
			}
			n, err := parseContentLength(value)
			if err != nil {
				return err
			}
			r.ContentLength = n
		}
	case 17:
		if equalFoldLower(name, "transfer-encoding") {
			s.teSeen = true
			if len(value) == 0 {
				s.teBad = true
			}
			forEachElement(value, func(e []byte) {
				tok := e
				params := false
				if i := bytes.IndexByte(e, ';'); i >= 0 {
					tok, params = trimOWS(e[:i]), true
				}
				switch {
				case !isToken(tok):
					s.teBad = true
				case equalFoldLower(tok, "chunked"):
					if params {
						s.teBad = true
					}
					s.teChunked++
					s.teLastChunked = true
				default:
					s.teUnknown++
					s.teLastChunked = false
				}
			})
		}
	}
	return nil
}

// finish checks what needs the whole head and completes r, whose head
// ends at pos.
func (s *headState) finish(r *Request, pos int) (int, *Error) {
	if r.Major == 1 && r.Minor == 1 && s.hosts == 0 {
		return 0, errNoHost
	}
	if s.teSeen {
		switch {
		case r.Minor == 0:
			return 0, errTE10
		case s.cls > 0:
			return 0, errCLAndTE
		case s.teBad:
			return 0, errBadTE
		case s.teChunked > 1 || (s.teChunked == 1 && !s.teLastChunked):
			return 0, errChunkedNotLast
		case s.teUnknown > 0:
			return 0, errUnknownCoding
		}
		r.Chunked = true
	}
	if r.Minor == 1 {
		r.KeepAlive = !s.connClose
	} else {
		r.KeepAlive = s.connKAlive && !s.connClose
	}
	r.ExpectContinue = r.ExpectContinue && r.Minor == 1
	r.HeadLen = pos
	return pos, nil
}

// Byte classes of the one-pass parser.
const (
	clTchar  = 1 << iota // RFC 9110 tchar
	clTarget             // a request-target byte: VCHAR
	clValue              // a field-value byte: VCHAR, SP, HTAB, obs-text
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if isTchar[c] {
			t[c] |= clTchar
		}
		if c > 0x20 && c < 0x7f {
			t[c] |= clTarget
		}
		if (c >= 0x20 && c != 0x7f) || c == '\t' {
			t[c] |= clValue
		}
	}
	return
}()

// parseHeadFast parses, in one pass over the bytes, a complete head of the
// common shape: no leading empty lines, an origin-form target, HTTP/1.0 or
// HTTP/1.1, and field lines that are valid as they come. It answers ok only
// when parseHead would accept win with the same Request; for anything else
// (an incomplete head, a byte out of place, a refusal) it answers !ok and
// leaves the decision to parseHead, so no check lives only here.
func parseHeadFast(win []byte, maxHeaders int, r *Request) (int, bool) {
	*r = Request{Headers: r.Headers[:0], ContentLength: -1}
	i := 0
	for i < len(win) && byteClass[win[i]]&clTchar != 0 {
		i++
	}
	if i == 0 || i >= len(win) || win[i] != ' ' {
		return 0, false
	}
	method := win[:i]
	i++
	ts := i
	if i >= len(win) || win[i] != '/' {
		return 0, false
	}
	for i < len(win) && byteClass[win[i]]&clTarget != 0 {
		i++
	}
	// " HTTP/1.x\r\n"
	if len(win)-i < 11 || win[i] != ' ' {
		return 0, false
	}
	target := win[ts:i]
	proto := win[i+1 : i+9]
	if string(proto[:7]) != "HTTP/1." || (proto[7] != '1' && proto[7] != '0') ||
		win[i+9] != '\r' || win[i+10] != '\n' {
		return 0, false
	}
	r.Method, r.Target, r.Proto, r.Major, r.Minor = method, target, proto, 1, int(proto[7]-'0')
	i += 11

	var s headState
	for {
		if i >= len(win) {
			return 0, false
		}
		if win[i] == '\r' {
			if i+1 >= len(win) || win[i+1] != '\n' {
				return 0, false
			}
			n, err := s.finish(r, i+2)
			return n, err == nil
		}
		ns := i
		for i < len(win) && byteClass[win[i]]&clTchar != 0 {
			i++
		}
		if i == ns || i >= len(win) || win[i] != ':' {
			return 0, false
		}
		name := win[ns:i]
		i++
		for i < len(win) && (win[i] == ' ' || win[i] == '\t') {
			i++
		}
		vs := i
		for i < len(win) && byteClass[win[i]]&clValue != 0 {
			i++
		}
		if len(win)-i < 2 || win[i] != '\r' || win[i+1] != '\n' {
			return 0, false
		}
		ve := i
		for ve > vs && (win[ve-1] == ' ' || win[ve-1] == '\t') {
			ve--
		}
		i += 2
		if len(r.Headers) >= maxHeaders {
			return 0, false
		}
		value := win[vs:ve]
		r.Headers = append(r.Headers, Header{Name: name, Value: value})
		if s.field(r, name, value) != nil {
			return 0, false
		}
	}
}

// parseHead parses sequentially, line by line, so that an answer depends
// only on the bytes up to the line where it is found: this is what makes a
// prefix of the input answer either "incomplete" or the same as the whole.
func parseHead(win []byte, full bool, maxHeaders int, r *Request) (int, *Error) {
	*r = Request{Headers: r.Headers[:0], ContentLength: -1}
	incomplete := func() (int, *Error) {
		if full {
			return 0, errHeadTooLarge
		}
		return 0, nil
	}

	pos := 0
	var line []byte
	for {
		l, next, ok, err := nextLine(win, pos)
		if err != nil {
			return 0, err
		}
		if !ok {
			return incomplete()
		}
		pos = next
		if len(l) > 0 {
			line = l
			break
		}
	}
	if err := parseRequestLine(line, r); err != nil {
		return 0, err
	}

	var s headState
	for {
		l, next, ok, err := nextLine(win, pos)
		if err != nil {
			return 0, err
		}
		if !ok {
			return incomplete()
		}
		pos = next
		if len(l) == 0 {
			break
		}
		name, value, err := parseField(l)
		if err != nil {
			return 0, err
		}
		if len(r.Headers) >= maxHeaders {
			return 0, errTooManyHeaders
		}
		r.Headers = append(r.Headers, Header{Name: name, Value: value})
		if err := s.field(r, name, value); err != nil {
			return 0, err
		}
	}
	return s.finish(r, pos)
}

// forEachElement calls f with each element of a comma-separated list, OWS
// trimmed. An empty element (",," or a trailing comma) is passed as empty.
func forEachElement(v []byte, f func([]byte)) {
	for {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			f(trimOWS(v))
			return
		}
		f(trimOWS(v[:i]))
		v = v[i+1:]
	}
}

func parseRequestLine(line []byte, r *Request) *Error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return errRequestLine
	}
	method := line[:sp1]
	if !isToken(method) {
		return errMethod
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errRequestLine
	}
	target, proto := rest[:sp2], rest[sp2+1:]
	for _, c := range target {
		if c <= 0x20 || c >= 0x7f {
			return errTarget
		}
	}
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		!isDigit(proto[5]) || !isDigit(proto[7]) {
		return errRequestLine
	}
	major, minor := int(proto[5]-'0'), int(proto[7]-'0')
	if major != 1 {
		return errVersion
	}
	if minor > 1 {
		// A later minor version of a major one we implement is handled as
		// the highest minor we implement (RFC 9110 §2.5): HTTP/1.2 is
		// read, kept alive and answered as HTTP/1.1.
		minor = 1
	}
	switch {
	case target[0] == '/': // origin-form
	case string(method) == "CONNECT": // authority-form; answering it is not our business
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return errTarget
		}
	default: // absolute-form: scheme "://" authority ... (a bare "host:port" is refused)
		if !isAlpha(target[0]) {
			return errTarget
		}
		i := 1
		for i < len(target) && (isAlpha(target[i]) || isDigit(target[i]) ||
			target[i] == '+' || target[i] == '-' || target[i] == '.') {
			i++
		}
		if !bytes.HasPrefix(target[i:], []byte("://")) {
			return errTarget
		}
	}
	r.Method, r.Target, r.Proto, r.Major, r.Minor = method, target, proto, major, minor
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

func parseContentLength(v []byte) (int64, *Error) {
	if len(v) == 0 {
		return 0, errBadCL
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, errBadCL
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, errHugeCL
		}
		n = n*10 + d
	}
	return n, nil
}

// hostChar: unreserved, pct-encoded and sub-delims (RFC 3986 reg-name).
var hostChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = isAlpha(b) || isDigit(b)
	}
	for _, c := range "-._~%!$&'()*+,;=" {
		t[c] = true
	}
	return
}()

// validHost accepts uri-host [ ":" port ]: a reg-name or IPv4 address, or an
// IP literal in brackets. An empty value is allowed (RFC 9112 §3.2).
func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for _, c := range h[1:end] {
			if !hostChar[c] && c != ':' {
				return false
			}
		}
		h = h[end+1:]
		if len(h) == 0 {
			return true
		}
		if h[0] != ':' {
			return false
		}
	} else {
		i := 0
		for i < len(h) && hostChar[h[i]] {
			i++
		}
		if i == len(h) {
			return true
		}
		if h[i] != ':' { // hostChar has no ':'
			return false
		}
		h = h[i:]
	}
	for _, c := range h[1:] { // port = *DIGIT
		if !isDigit(c) {
			return false
		}
	}
	return true
}
