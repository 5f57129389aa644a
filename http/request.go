package http

import (
	"net/netip"
)

// source is what the server knows of a request besides its bytes.
type source struct {
	// Remote and Local are the connection's addresses (Remote after any
	// PROXY protocol header).
	Remote, Local netip.AddrPort
	// Options are the worker's settings, after WithDefaults (trusted
	// proxies, upload limits); nil means the defaults.
	Options *Options
}

// Request is one HTTP request (Workerman's Protocols\Http\Request). Parsing
// is lazy: the head is indexed on the first question about it, the query,
// form, cookies and uploads on the first question about each.
//
// A Request is valid until its response is sent; the server then reuses it.
// Uploaded files are removed at that point too. The strings it returns are
// copies, never views of the server's buffer, so they may be kept (RawHead
// and RawBody are views: copy them to keep them). Its methods are not safe
// for concurrent use, but a handler may pass it to one other goroutine that
// answers.
//
// Its methods never panic, whatever bytes it was built from: a head that is
// not HTTP gives empty answers.
type Request struct {
	head    []byte // request line and fields, through the blank line
	body    []byte // the body, de-chunked
	trailer []byte // the raw trailer section of a chunked body ("" if none)
	src     source

	// Context is a slot for the application (a session, a user), cleared
	// when the request is reused.
	Context any

	lazy requestLazy
}

// newRequest wraps a request whose head (request line, fields and the blank
// line) and body (already de-chunked) have been read; trailer is the trailer
// section of a chunked body or nil. The slices are kept, not copied.
func newRequest(head, body, trailer []byte, src source) *Request {
	r := &Request{}
	r.reset(head, body, trailer, src)
	return r
}

// reset makes r the request of the given bytes, releasing what it held
// before (uploaded temp files included).
func (r *Request) reset(head, body, trailer []byte, src source) {
	// release, without clearing what is set again right after: this runs
	// for every request.
	r.lazy.release()
	r.head, r.body, r.trailer, r.src = head, body, trailer, src
	r.Context = nil
}

// release removes r's uploaded temp files and forgets its bytes. The
// server calls it once the response was sent or the connection closed.
func (r *Request) release() {
	r.lazy.release()
	r.head, r.body, r.trailer = nil, nil, nil
	r.src = source{}
	r.Context = nil
}

// RawHead is the request line and header fields as received, through the
// blank line.
func (r *Request) RawHead() []byte { return r.head }

// RawBody is the request body (de-chunked for a chunked request).
func (r *Request) RawBody() []byte { return r.body }

// RemoteAddr is the address of the peer: the client, or the last proxy.
func (r *Request) RemoteAddr() netip.AddrPort { return r.src.Remote }

// LocalAddr is the server address the request came to.
func (r *Request) LocalAddr() netip.AddrPort { return r.src.Local }

func (r *Request) options() *Options {
	if r.src.Options != nil {
		return r.src.Options
	}
	return &defaultOptions
}

var defaultOptions = func() Options {
	o, err := Options{}.WithDefaults()
	if err != nil {
		panic(err)
	}
	return o
}()
