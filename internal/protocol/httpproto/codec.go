package httpproto

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/workermand/workermand/codec"
	"github.com/workermand/workermand/http"
	"github.com/workermand/workermand/internal/httpparse"
)

// Connection states. A connection alternates between reading a request
// (stIdle, then stBody for a body that did not come with its head) and
// answering it (stWaiting, then stStreaming for chunked or event-stream
// responses); stDone means the connection closes once its output is written.
const (
	stIdle uint8 = iota
	stBody
	stWaiting
	stStreaming
	stDone
)

// Kinds of streamed responses.
const (
	streamChunked uint8 = iota + 1 // Transfer-Encoding: chunked to an HTTP/1.1 client
	streamRaw                      // chunks written bare to an HTTP/1.0 client; the close ends the body
	streamEvents                   // text/event-stream
)

// keptBufferCap bounds the buffers a connection keeps between requests; a
// large body's buffer is dropped once answered.
const keptBufferCap = 64 << 10

// conn is the codec of one connection.
//
// Every connection holds one, idle keep-alive ones included (thousands of
// them over TLS): the flags are packed together and the chunked decoder,
// which most connections never use, is allocated on the first chunked
// body, so the struct stays in the 896-byte size class, not 1,024.
type conn struct {
	p *Protocol
	c codec.Conn

	state  uint8
	stream uint8
	paused bool // we paused reading while a response is pending
	// stBody: the body is chunked; the whole body is in c.body.
	chunked, complete bool
	reading           bool // bytes of a request head have arrived
	continued         bool // "100 Continue" sent for this request
	headReq           bool // a HEAD request: no body in the response
	keepAlive         bool
	large             bool  // body is a large buffer (bodybuf.go), given back once answered
	status            int   // of a streamed response, for the access log
	streamed          int64 // body bytes of a streamed response so far

	// The request being read. head's slices point into the loop's buffer of
	// the current Input call: only its scalars survive until Decode, copied
	// into the fields below.
	head      httpparse.Request
	dec       *httpparse.ChunkedDecoder // nil until the first chunked body
	bodyLeft  int64                     // stBody, Content-Length: bytes still to come
	scanned   int                       // stBody, chunked: raw bytes of the request consumed so far
	readStart time.Time                 // when the head started arriving

	// The request in flight, valid until its response is sent.
	headLen  int
	minor    int
	raw      []byte // the request's head, and its body when both came in one packet
	body     []byte // the body read in stBody, de-chunked
	trailer  []byte
	req      http.Request
	requests int
	local    netip.AddrPort
	started  time.Time // for the access log
}

var (
	errNoRequest    = errors.New("http: no request to answer (one response per request)")
	errNotStreaming = errors.New("http: a Chunk or ServerSentEvent needs a streaming response first")
)

// Input frames one request. A request whose head and body are both in buf
// is one packet. Otherwise the head is a packet, and so is every piece of
// body that arrives after it: Input copies the pieces into c.body, a buffer
// sized once from Content-Length (or grown, for a chunked body), so that
// the loop never accumulates the body in its own input buffer, which would
// grow by repeated appends and then be copied once more by Decode.
func (c *conn) Input(buf []byte) (int, error) {
	switch c.state {
	case stWaiting, stStreaming, stDone:
		// One request in flight: hold the rest of the input, and stop
		// reading so that a pipelining client is slowed by TCP, not by
		// our memory.
		if !c.paused && c.state != stDone {
			c.paused = true
			c.c.PauseRecv()
		}
		return 0, nil
	case stBody:
		if c.chunked {
			return c.inputChunked(buf)
		}
		return c.inputLength(buf), nil
	}
	n, err := httpparse.ParseHead(buf, &c.head, c.p.limits)
	if err != nil {
		c.headReq = headMethod(buf)
		return 0, c.refuse(err)
	}
	if n == 0 {
		if len(buf) > 0 && !c.reading {
			c.reading, c.readStart = true, coarseNow()
		}
		// Known before the head is complete, for a 408.
		c.headReq = headMethod(buf)
		return 0, nil
	}
	h := &c.head
	c.headLen, c.headReq, c.minor = n, string(h.Method) == "HEAD", h.Minor
	if string(h.Method) == "CONNECT" {
		return 0, c.refuse(errConnect)
	}
	// header_timeout is over: from here on a body is timed by the pauses
	// between its reads (body_timeout).
	c.reading = false
	c.keepAlive = h.KeepAlive
	c.continued = false
	maxPkg := c.c.MaxPackageSize()
	if h.Chunked {
		c.startBody(buf[:n], true)
		c.scanned = n
		if c.dec == nil {
			c.dec = new(httpparse.ChunkedDecoder)
		}
		c.dec.Reset()
		c.dec.MaxTrailerBytes, c.dec.MaxTrailers = c.p.limits.MaxHeaderBytes, c.p.limits.MaxHeaders
		if h.ExpectContinue {
			c.sendContinue()
		}
		m, err := c.inputChunked(buf[n:])
		if err != nil {
			return 0, err
		}
		return n + m, nil
	}
	if h.ContentLength <= 0 {
		return n, nil
	}
	if h.ContentLength > int64(maxPkg-n) {
		return 0, c.refuse(errTooLarge)
	}
	total := n + int(h.ContentLength)
	if total <= len(buf) && h.ContentLength <= keptBufferCap {
		return total, nil
	}
	if total > len(buf) && h.ExpectContinue {
		c.sendContinue()
	}
	c.startBody(buf[:n], false)
	c.bodyLeft = h.ContentLength
	c.body = c.reserveBody(int(h.ContentLength))
	return n + c.inputLength(buf[n:]), nil
}

// startBody keeps the head of a request whose body is read piece by piece.
func (c *conn) startBody(head []byte, chunked bool) {
	c.raw = append(c.raw[:0], head...)
	c.state, c.chunked, c.complete = stBody, chunked, false
	c.body, c.trailer = c.body[:0], c.trailer[:0]
}

// inputLength takes the bytes of a Content-Length body that buf holds.
func (c *conn) inputLength(buf []byte) int {
	take := int(min(int64(len(buf)), c.bodyLeft))
	c.body = append(c.body, buf[:take]...) // within the reserved capacity
	c.bodyLeft -= int64(take)
	c.complete = c.bodyLeft == 0
	return take
}

// inputChunked decodes what buf holds of a chunked body into c.body. The
// request, head and raw body, is bounded by max_package_size.
func (c *conn) inputChunked(buf []byte) (int, error) {
	// Nothing beyond max_package_size is looked at: a body that does not
	// end within it is too large, whatever follows.
	maxPkg := c.c.MaxPackageSize()
	m, pieces, done, err := c.dec.Feed(buf[:min(len(buf), max(maxPkg-c.scanned, 0))])
	if err != nil {
		return 0, c.refuse(err)
	}
	for _, p := range pieces {
		c.appendBody(p, maxPkg)
	}
	c.scanned += m
	if !done {
		// What Feed left is an incomplete size line or trailer: the loop
		// keeps it and hands it back with the next read.
		if c.scanned+len(buf)-m >= maxPkg {
			return 0, c.refuse(errTooLarge)
		}
		return m, nil
	}
	for _, t := range c.dec.Trailers {
		c.trailer = append(append(append(append(c.trailer, t.Name...), ": "...), t.Value...), "\r\n"...)
	}
	c.complete = true
	return m, nil
}

// headMethod reports whether the request starting in buf is a HEAD, as far
// as its first bytes tell: the error answer to a HEAD has no body, even when
// the rest of the request is too malformed to parse.
func headMethod(buf []byte) bool {
	for len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' {
		buf = buf[2:] // empty lines before the request line are allowed
	}
	return len(buf) >= 5 && string(buf[:5]) == "HEAD "
}

func (c *conn) sendContinue() {
	if !c.continued {
		c.continued = true
		c.c.WriteRaw(continueResponse)
	}
}

var continueResponse = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// Decode delivers a complete request. A request that came in one packet is
// copied out of the loop's buffers, so that it stays valid until its
// response is sent; the packets of a body read piece by piece were already
// copied by Input and deliver nothing until the last one.
func (c *conn) Decode(pkt []byte) (codec.Message, error) {
	var head, body, trailer []byte
	if c.state == stBody {
		if !c.complete {
			return codec.Message{}, nil
		}
		head, body = c.raw, c.body
		if len(c.trailer) > 0 {
			trailer = c.trailer
		}
		c.scanned = 0
	} else {
		c.raw = append(c.raw[:0], pkt...)
		head, body = c.raw[:c.headLen], c.raw[c.headLen:]
	}
	if c.requests == 0 {
		c.local = c.c.LocalAddr()
	}
	c.requests++
	server.ResetRequest(&c.req, head, body, trailer, c.c.RemoteAddr(), c.local, &c.p.opts)
	c.state, c.reading, c.readStart = stWaiting, false, time.Time{}
	c.streamed = 0
	if c.p.log != nil {
		c.started = time.Now()
	}
	if n := c.p.opts.KeepAliveRequests; n > 0 && c.requests >= n {
		c.keepAlive = false
	}
	return codec.Message{Kind: codec.KindData, Data: body, Value: &c.req}, nil
}

// finish ends the request in flight: log it, then either close the
// connection or go on with the input held meanwhile.
func (c *conn) finish(status int, bodyBytes int64, keep bool) {
	if c.p.log != nil {
		c.p.log.Log(&c.req, status, bodyBytes, c.started)
	}
	if cap(c.raw) > keptBufferCap {
		// The memory of a large request is not kept for the next: an idle
		// keep-alive connection holds only small buffers.
		c.raw = nil
	}
	c.releaseBody()
	if !keep {
		c.state = stDone
		c.c.Close()
		return
	}
	c.state = stIdle
	if c.paused {
		c.paused = false
		c.c.ResumeRecv()
	}
}

// Migrate lets an idle keep-alive connection move to another process on
// reload. Bytes of a next request already read travel with the socket; a
// request being answered, or a chunked body half read, keeps it here.
func (c *conn) Migrate() ([]byte, bool) {
	if c.state != stIdle || c.scanned != 0 {
		return nil, false
	}
	return strconv.AppendInt(nil, int64(c.requests), 10), true
}

// Resume restores the request count (for keepalive_requests).
func (c *conn) Resume(state []byte) error {
	n, err := strconv.Atoi(string(state))
	if err != nil || n < 0 {
		return errors.New("http: bad hand-over state")
	}
	c.requests = n
	return nil
}

// Expired closes connections that take too long to send a request head
// (header_timeout, counted from its first byte), that pause within a body
// longer than body_timeout (both answered 408), or that stay idle between
// requests longer than keepalive_timeout. A request being answered never
// expires here: the application owns that time.
func (c *conn) Expired(now time.Time, idle time.Duration) bool {
	o := &c.p.opts
	switch {
	case c.state == stWaiting || c.state == stStreaming || c.state == stDone:
		return false
	case c.state == stBody:
		if idle < o.BodyTimeout {
			return false
		}
		c.timeout()
		return true
	case c.reading && (now.Sub(c.readStart) >= o.HeaderTimeout || idle >= o.HeaderTimeout):
		c.timeout()
		return true
	case c.requests == 0:
		// A connection that never sent a request gets the header timeout,
		// so idle sockets cannot pile up.
		return idle >= o.HeaderTimeout
	default:
		return idle >= o.KeepAliveTimeout
	}
}

// timeout answers a request that did not arrive in time.
func (c *conn) timeout() {
	c.state = stDone
	c.releaseBody()
	c.c.Linger()
	c.c.WriteRaw(errorResponse(408, "request timeout", c.headReq))
}

// Close releases what the request in flight holds (its uploaded files, a
// large body buffer).
func (c *conn) Close() error {
	server.ReleaseRequest(&c.req)
	if c.state == stWaiting || c.state == stStreaming {
		c.dropBody() // the handler may still be reading it
		return nil
	}
	c.releaseBody()
	return nil
}

var (
	errConnect  = &httpparse.Error{Status: 405, Reason: "CONNECT is not supported"}
	errTooLarge = &httpparse.Error{Status: 413, Reason: "request body exceeds max_package_size"}
)

// refuse answers a malformed or oversized request with its status and closes
// the connection after it, lingering so the client reads the answer.
func (c *conn) refuse(err error) error {
	status, reason := 400, "bad request"
	var he *httpparse.Error
	if errors.As(err, &he) {
		status, reason = he.Status, he.Reason
	}
	c.state = stDone
	c.releaseBody()
	c.c.Linger()
	c.c.WriteRaw(errorResponse(status, reason, c.headReq))
	return err
}

// errorResponse is the whole answer to a refused request. The answer to a
// HEAD has the fields a GET would get, Content-Length included, but no
// content (RFC 9110 §9.3.2).
func errorResponse(status int, reason string, head bool) []byte {
	text := strconv.Itoa(status) + " " + http.StatusText(status) + ": " + reason + "\n"
	b := server.AppendStatusLine(nil, 1, 1, status, "")
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	if status == 405 {
		b = append(b, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"...)
	}
	b = appendDate(b)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(text)), 10)
	b = append(b, "\r\n\r\n"...)
	if head {
		return b
	}
	return append(b, text...)
}

// AnswerPanic answers 500 when the handler panicked before it began its
// response (codec.PanicAnswerer), logs it, and closes after it: the client
// learns the request failed instead of reading an empty reply, and nothing
// the handler half-wrote can follow. A response already begun is cut.
func (c *conn) AnswerPanic() bool {
	if c.state != stWaiting {
		return false
	}
	b := errorResponse(500, "the handler failed", c.headReq)
	c.c.Linger()
	c.c.WriteRaw(b)
	body := len(b) - bytes.Index(b, []byte("\r\n\r\n")) - 4
	c.finish(500, int64(body), false)
	return true
}

// Paced: every request gets its response, so a full send buffer holds the
// next request back instead of dropping the answer.
func (c *conn) Paced() {}
