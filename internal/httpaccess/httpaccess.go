// Package httpaccess hands the server side — the protocols that frame
// requests and encode responses — the operations on the public http types
// that a handler must not call: reusing a Request for the next request,
// removing its uploads, taking a Response's open file, writing a status
// line. They are methods a handler could misuse (a handler that released
// its own request would delete its uploads), so package http keeps them
// unexported and installs them here when it is initialised.
//
// The functions are generic over the http types because package http
// imports this one, not the other way round; the server side names the
// types once (see Get).
package httpaccess

import (
	"net/netip"
	"os"
)

// Funcs are the server-side operations on a Request, Response and Options.
type Funcs[Request, Response, Options any] struct {
	// ResetRequest makes r the request of the given bytes (the head through
	// its blank line, the de-chunked body, the trailer section or nil),
	// releasing what it held before. The slices are kept, not copied.
	ResetRequest func(r Request, head, body, trailer []byte, remote, local netip.AddrPort, opts Options)
	// ReleaseRequest removes r's uploaded temp files and forgets its bytes,
	// once its response was sent or its connection closed.
	ReleaseRequest func(r Request)
	// TakeFile prepares a response with a file body for sending (opens and
	// checks the file and completes the head; a file that cannot be sent
	// turns r into its error page) and hands the open file to the caller,
	// who must close it. hadFile reports whether r had a file body at all;
	// f is nil when it had none or preparing turned r into an error page.
	TakeFile func(r Response) (f *os.File, offset, length int64, hadFile bool)
	// AppendStatusLine appends "HTTP/major.minor code reason\r\n" (the
	// standard phrase when reason is empty or not a valid phrase).
	AppendStatusLine func(dst []byte, major, minor, code int, reason string) []byte
}

var installed any

// Install is called by package http's init.
func Install[Request, Response, Options any](f Funcs[Request, Response, Options]) {
	installed = f
}

// Get returns what package http installed. The type arguments must be
// *http.Request, *http.Response and *http.Options.
func Get[Request, Response, Options any]() Funcs[Request, Response, Options] {
	f, ok := installed.(Funcs[Request, Response, Options])
	if !ok {
		panic("httpaccess: Get before package http was initialised, or with other types")
	}
	return f
}
