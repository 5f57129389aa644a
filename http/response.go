package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Response is an HTTP response (Workerman's Protocols\Http\Response): build
// it, then send it with Connection.SendValue. The http:// protocol writes the
// status line, the fields in order (skipping any whose name is not a token or
// whose value holds CR, LF or NUL), Date, Server, Content-Length (or chunked
// framing), and the body; a HEAD request gets no body.
//
// A Response with a "Transfer-Encoding: chunked" field sends only its head
// (and Body, if any, as the first chunk); Chunk values follow and an empty
// Chunk ends it. A Response whose Content-Type is text/event-stream starts a
// stream of ServerSentEvent values. Either way the request is complete only
// once its stream ends.
//
// The With methods change the Response and return it, as Workerman's do,
// so a Response is one answer: build it per request. Sending the same
// Response again is fine while nothing changes it (a canned reply), except
// with a file body, which the server opens, completes and takes when it
// sends it.
type Response struct {
	// Status is the status code (200 when 0).
	Status int
	// Reason replaces the standard reason phrase when not empty.
	Reason string
	// Header holds the fields in the order they are sent.
	Header Header
	// Cookies are sent as Set-Cookie fields after Header.
	Cookies []Cookie
	// Body is the payload; ignored when the response has a file.
	Body []byte

	file *fileBody
}

// Field is one header field.
type Field struct{ Name, Value string }

// Header is an ordered list of header fields. Names compare
// case-insensitively.
type Header []Field

// fileBody is a response body read from a file, written with sendfile(2).
type fileBody struct {
	// Path is the file's name; the protocol opens it when File is nil.
	Path string
	// File is the open file; the protocol closes it once sent.
	File *os.File
	// Offset and Length select the bytes to send (Length 0: to the end).
	Offset, Length int64
	// ModTime and Size are filled in when the file is opened.
	ModTime time.Time
	Size    int64

	// ready: opened, checked and the response's head completed, so
	// prepareFile has nothing left to do.
	ready bool
}

// Cookie is a Set-Cookie field.
type Cookie struct {
	Name, Value string
	// MaxAge in seconds: > 0 sets Max-Age, < 0 deletes the cookie
	// (Max-Age=0), 0 leaves it a session cookie.
	MaxAge   int
	Expires  time.Time
	Path     string
	Domain   string
	Secure   bool
	HTTPOnly bool
	// SameSite is "Strict", "Lax", "None" or "".
	SameSite string
}

// Chunk is one piece of a chunked response; an empty Chunk ends it.
type Chunk []byte

// ServerSentEvent is one event of a text/event-stream response, written as
// ": comment", "event:", "id:", "retry:" and one "data:" line per line of
// Data, then a blank line.
type ServerSentEvent struct {
	Comment string
	Event   string
	ID      string
	Retry   time.Duration
	Data    string
}

// The builder methods below change r and return it, so calls chain:
//
//	http.NewResponse(200).WithHeader("Content-Type", "text/plain").WithBodyString("hi")
//
// A field whose name is not a token or whose value holds CR, LF, NUL or
// another control character but HTAB is ignored, as is a cookie that is
// not Valid and a reason phrase with control characters: nothing an
// application passes on from a client can split the response. The methods
// never panic; use Header.Set/Add directly to bypass the checks (the
// encoder still skips invalid fields).

// NewResponse returns an empty response with the given status.
func NewResponse(status int) *Response { return &Response{Status: status} }

// WithStatus sets the status code and, when given, a reason phrase to send
// instead of the standard one.
func (r *Response) WithStatus(code int, reason ...string) *Response {
	r.Status = code
	r.Reason = ""
	if len(reason) > 0 && validReason(reason[0]) {
		r.Reason = reason[0]
	}
	return r
}

// WithHeader replaces every field named name with name: value.
func (r *Response) WithHeader(name, value string) *Response {
	if ValidFieldName(name) && ValidFieldValue(value) {
		r.Header.Set(name, value)
	}
	return r
}

// AddHeader appends a field, keeping others of the same name.
func (r *Response) AddHeader(name, value string) *Response {
	if ValidFieldName(name) && ValidFieldValue(value) {
		r.Header.Add(name, value)
	}
	return r
}

// WithoutHeader removes every field named name.
func (r *Response) WithoutHeader(name string) *Response {
	r.Header.Del(name)
	return r
}

// WithBody sets the body (kept, not copied) and drops any file.
func (r *Response) WithBody(b []byte) *Response {
	r.Body = b
	r.dropFile()
	return r
}

// WithBodyString sets the body and drops any file.
func (r *Response) WithBodyString(s string) *Response {
	r.Body = []byte(s)
	r.dropFile()
	return r
}

// WithCookie adds a Set-Cookie field (ignored unless c.Valid() is nil).
func (r *Response) WithCookie(c Cookie) *Response {
	if c.Valid() == nil {
		r.Cookies = append(r.Cookies, c)
	}
	return r
}

// WithFile makes the file at path the body, as Workerman's withFile: length
// bytes from offset (length 0: to the end), sent with sendfile(2). The
// server opens it when the response is sent, as Workerman does, and adds
// the fields the application did not set: Content-Type from the extension
// (an unknown one gets application/octet-stream and Content-Disposition:
// attachment), Last-Modified and Accept-Ranges: bytes; with an offset or a
// length the status becomes 206 with Content-Range. A file that cannot be
// opened, or is not a regular file, makes the response a 404 text/html
// "<h3>404 Not Found</h3>"; an offset or length beyond the end a 416.
// For a file served to a browser, with conditional and range requests, use
// ServeFile.
func (r *Response) WithFile(path string, offset, length int64) *Response {
	r.dropFile()
	r.Body = nil
	r.file = &fileBody{Path: path, Offset: offset, Length: length}
	return r
}

func (r *Response) dropFile() {
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
}

// Text returns a response with a text/plain UTF-8 body.
func Text(status int, body string) *Response {
	return &Response{Status: status, Header: Header{{"Content-Type", "text/plain; charset=utf-8"}}, Body: []byte(body)}
}

// HTML returns a response with a text/html UTF-8 body.
func HTML(status int, body string) *Response {
	return &Response{Status: status, Header: Header{{"Content-Type", "text/html; charset=utf-8"}}, Body: []byte(body)}
}

// JSON returns a response whose body is v encoded as JSON
// (application/json), or the encoding's error.
func JSON(status int, v any) (*Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("http: JSON response: %w", err)
	}
	return &Response{Status: status, Header: Header{{"Content-Type", "application/json"}}, Body: b}, nil
}

// Redirect returns a redirection to location with a short HTML body. A
// status outside 300–399 becomes 302; a location that is not a valid field
// value (CR, LF, control characters) is not sent and the response is a 500,
// since redirecting nowhere would be a silent failure.
func Redirect(status int, location string) *Response {
	if status < 300 || status > 399 {
		status = 302
	}
	if !ValidFieldValue(location) || location == "" {
		return HTML(500, "<h3>500 Internal Server Error</h3>")
	}
	r := HTML(status, "<a href=\""+html.EscapeString(location)+"\">"+StatusText(status)+"</a>\n")
	r.Header.Add("Location", location)
	return r
}

// prepareFile completes a response built with WithFile when the encoder is
// about to send it (see WithFile); it does nothing for a response from
// ServeFile or one already prepared. It returns the error that changed the
// response, for the log.
func (r *Response) prepareFile() error {
	f := r.file
	if f == nil || f.ready {
		return nil
	}
	err := f.Open()
	switch {
	case errors.Is(err, ErrRange):
		r.file = nil
		*r = Response{Status: 416, Header: Header{{"Content-Range", "bytes */" + strconv.FormatInt(f.Size, 10)}}}
		return err
	case err != nil:
		r.file = nil
		*r = *notFound()
		return err
	}
	f.ready = true
	if !r.Header.Has("Content-Type") {
		ct := TypeByExtension(filepath.Ext(f.Path))
		if ct == "" {
			ct = "application/octet-stream"
			if !r.Header.Has("Content-Disposition") {
				r.Header.Add("Content-Disposition", contentDisposition(filepath.Base(f.Path)))
			}
		}
		r.Header.Add("Content-Type", ct)
	}
	if !r.Header.Has("Last-Modified") {
		r.Header.Add("Last-Modified", string(AppendHTTPDate(nil, f.ModTime)))
	}
	if !r.Header.Has("Accept-Ranges") {
		r.Header.Add("Accept-Ranges", "bytes")
	}
	if f.Offset > 0 || f.Length > 0 {
		if r.Status == 0 || r.Status == 200 {
			r.Status = 206
		}
		if !r.Header.Has("Content-Range") {
			r.Header.Add("Content-Range", contentRange(f.Offset, f.ContentLength(), f.Size))
		}
	}
	return nil
}

// contentDisposition quotes a file name for an attachment, keeping only
// bytes that need no escaping in a quoted-string and adding the RFC 6266
// filename* form for anything else.
func contentDisposition(name string) string {
	plain := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < ' ' || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return `attachment; filename="` + name + `"`
	}
	return "attachment; filename*=UTF-8''" + string(appendRawURLEncode(nil, name))
}

func contentRange(offset, length, size int64) string {
	b := make([]byte, 0, 48)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, offset+length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

func notFound() *Response { return HTML(404, "<h3>404 Not Found</h3>") }
