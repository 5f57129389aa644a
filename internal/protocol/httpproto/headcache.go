package httpproto

import (
	"sync/atomic"
	"unsafe"

	"github.com/workermand/workermand/http"
)

// A server usually answers with the same few heads: same status, same
// fields, a Date that changes once a second. Checking and encoding those
// fields again for every response is most of the encoder's work, so the
// protocol keeps the encoded start of the last head (status line through
// Content-Type) with the fields it was made from. A response whose status,
// reason and fields equal them (compared by value, so a handler may build
// a new Response each time or change the one it reuses) gets those bytes;
// the framing fields, which depend on the connection and the body, are
// written as always. The bytes are exactly what appendHeadStart writes.
//
// The cache is one immutable entry behind an atomic pointer: a Protocol
// may serve connections of several loops (tests run many in one process).
// An entry is replaced when its Date goes stale, and by another response
// only after missesToReplace misses, so that a rare answer does not push
// out the common one and responses that alternate do not allocate a new
// entry for each request.
type headCache struct {
	status int
	reason string
	header http.Header // a copy of the slice; the strings are shared and immutable
	date   []byte      // the Date field the prefix carries
	flags  fieldFlags
	prefix []byte // status line, fields, Date, Server, Content-Type
	length int64  // the body length whole is for
	// whole is the entire head of a kept-alive HTTP/1.1 answer with a body
	// of length bytes: prefix, "Content-Length: <length>\r\n" and the
	// blank line, the usual answer in one append.
	whole []byte
}

const missesToReplace = 256

type headCacheSlot struct {
	entry  atomic.Pointer[headCache]
	misses atomic.Int32
}

// matches reports whether r would be encoded as e's head.
func (e *headCache) matches(status int, r *http.Response) bool {
	if e.status != status || e.reason != r.Reason || len(e.header) != len(r.Header) {
		return false
	}
	for i := range e.header {
		if e.header[i] != r.Header[i] {
			return false
		}
	}
	return true
}

// cachedHead returns the entry for r, or nil when r is to be encoded in
// full: r is not in the cache, or is streamed (chunked or an event stream,
// which are never cached). The caller has checked that r has no file, no
// cookies and a status that has a body.
func (p *Protocol) cachedHead(status int, r *http.Response) *headCache {
	date := currentDate()
	e := p.heads.entry.Load()
	length := int64(len(r.Body))
	switch {
	case e == nil:
	case !e.matches(status, r):
		if p.heads.misses.Add(1) < missesToReplace {
			return nil
		}
	case unsafe.SliceData(e.date) != unsafe.SliceData(date):
		// The same head, a second later.
		r, length = &http.Response{Status: e.status, Reason: e.reason, Header: e.header}, e.length
	default:
		return e
	}
	n := &headCache{status: status, reason: r.Reason, header: append(http.Header(nil), r.Header...), date: date, length: length}
	scanFields(n.header, &n.flags)
	p.heads.misses.Store(0)
	if n.flags.chunked || n.flags.eventStream {
		return nil
	}
	n.prefix = appendHeadStart(nil, p.server, date, status, r, n.flags, false)
	n.whole = appendContentLength(append([]byte(nil), n.prefix...), length)
	n.whole = append(n.whole, "\r\n"...)
	p.heads.entry.Store(n)
	return n
}

// encodeFromCache completes the head e starts and appends the body, as
// encodeResponse does for a response that is not streamed and has no file.
func (c *conn) encodeFromCache(dst []byte, e *headCache, r *http.Response, status int) []byte {
	keep := c.keepAlive && !e.flags.close
	length := int64(len(r.Body))
	if length == e.length && keep && c.minor == 1 {
		dst = append(dst, e.whole...)
	} else {
		dst = append(dst, e.prefix...)
		dst = appendContentLength(dst, length)
		dst = c.appendConnection(dst, keep)
		dst = append(dst, "\r\n"...)
	}
	if !c.headReq {
		dst = append(dst, r.Body...)
	}
	c.finish(status, length, keep)
	return dst
}

// appendHeadStart writes a head up to the framing fields: the status line,
// the application's valid fields and cookies, Date, Server (unless the
// application set one) and the default Content-Type.
func appendHeadStart(dst, serverField, date []byte, status int, r *http.Response, flags fieldFlags, bodyless bool) []byte {
	dst = server.AppendStatusLine(dst, 1, 1, status, r.Reason)
	dst = appendFields(dst, r.Header)
	for i := range r.Cookies {
		if r.Cookies[i].Valid() != nil {
			continue
		}
		dst = append(dst, "Set-Cookie: "...)
		dst = r.Cookies[i].AppendTo(dst)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, date...)
	if !flags.server {
		dst = append(dst, serverField...)
	}
	if !flags.contentType && !bodyless {
		dst = append(dst, "Content-Type: text/html;charset=utf-8\r\n"...)
	}
	return dst
}
