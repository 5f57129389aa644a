package http

import (
	"os"
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

	file *FileBody
}

// Field is one header field.
type Field struct{ Name, Value string }

// Header is an ordered list of header fields. Names compare
// case-insensitively.
type Header []Field

// FileBody is a response body read from a file, written with sendfile(2).
type FileBody struct {
	// Path is the file's name; the protocol opens it when File is nil.
	Path string
	// File is the open file; the protocol closes it once sent.
	File *os.File
	// Offset and Length select the bytes to send (Length 0: to the end).
	Offset, Length int64
	// ModTime and Size are filled in when the file is opened.
	ModTime time.Time
	Size    int64
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

// File returns the response's file body, or nil.
func (r *Response) File() *FileBody { return r.file }
