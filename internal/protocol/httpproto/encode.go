package httpproto

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/workermand/workermand/http"
)

// Encode answers the request in flight with a plain payload: 200, text/html,
// as Workerman's $connection->send('...').
func (c *conn) Encode(dst, payload []byte) ([]byte, error) {
	if c.state != stWaiting {
		if c.state == stStreaming {
			return c.encodeChunk(dst, payload)
		}
		return dst, errNoRequest
	}
	keep := c.keepAlive
	dst = append(dst, "HTTP/1.1 200 OK\r\n"...)
	dst = c.appendCommon(dst, keep)
	dst = append(dst, "Content-Type: text/html;charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, "\r\n\r\n"...)
	if !c.headReq {
		dst = append(dst, payload...)
	}
	c.finish(200, int64(len(payload)), keep)
	return dst, nil
}

// EncodeValue sends the public http package's values.
func (c *conn) EncodeValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case *http.Response:
		return c.encodeResponse(dst, v)
	case http.Response:
		return c.encodeResponse(dst, &v)
	case http.Chunk:
		return c.encodeChunk(dst, v)
	case *http.ServerSentEvent:
		return c.encodeEvent(dst, v)
	case http.ServerSentEvent:
		return c.encodeEvent(dst, &v)
	case []byte:
		return c.Encode(dst, v)
	case string:
		return c.Encode(dst, []byte(v))
	}
	return dst, errors.New("http: cannot send a " + typeName(v) + " (want *http.Response, http.Chunk, http.ServerSentEvent, []byte or string)")
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// appendCommon writes the fields every response carries: Date, Server and
// the connection's fate.
func (c *conn) appendCommon(dst []byte, keep bool) []byte {
	dst = appendDate(dst)
	dst = append(dst, c.p.server...)
	return c.appendConnection(dst, keep)
}

// appendConnection writes the connection's fate: HTTP/1.1 persists by
// default, so only an HTTP/1.0 client is told about keep-alive.
func (c *conn) appendConnection(dst []byte, keep bool) []byte {
	switch {
	case !keep:
		dst = append(dst, "Connection: close\r\n"...)
	case c.minor == 0:
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return dst
}

// appendContentLength writes a Content-Length field.
func appendContentLength(dst []byte, length int64) []byte {
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, length, 10)
	return append(dst, "\r\n"...)
}

// encodeResponse writes a Response: its status line, the valid fields in
// order, then the framing fields this encoder owns (Date, Server,
// Content-Length or Transfer-Encoding, Connection).
func (c *conn) encodeResponse(dst []byte, r *http.Response) ([]byte, error) {
	if c.state != stWaiting {
		return dst, errNoRequest
	}
	status := r.Status
	if status == 0 {
		status = 200
	}
	if status < 100 || status > 999 {
		return dst, errors.New("http: status " + strconv.Itoa(status) + " is not a 3-digit code")
	}
	if status < 200 {
		// Interim responses (103 Early Hints) go out at once and the
		// request stays in flight.
		dst = server.AppendStatusLine(dst, 1, 1, status, r.Reason)
		dst = appendFields(dst, r.Header)
		return append(dst, "\r\n"...), nil
	}
	// Opens the file and completes the head (type, dates, ranges); a file
	// that cannot be served turns r into its error page. The file is ours
	// to close from here on.
	file, offset, length, hadFile := server.TakeFile(r)
	if hadFile && r.Status != 0 {
		status = r.Status
	}
	bodyless := status == 204 || status == 304
	if !hadFile && !bodyless && len(r.Cookies) == 0 {
		if e := c.p.cachedHead(status, r); e != nil {
			return c.encodeFromCache(dst, e, r, status), nil
		}
	}
	var flags fieldFlags
	scanFields(r.Header, &flags)
	keep := c.keepAlive && !flags.close
	stream := uint8(0)
	switch {
	case bodyless:
	case flags.chunked:
		stream = streamChunked
	case flags.eventStream:
		stream = streamEvents
	}
	if stream != 0 && file != nil {
		file.Close()
		return dst, errors.New("http: a streaming response cannot have a file body")
	}
	if stream == streamChunked && c.minor == 0 {
		// HTTP/1.0 has no chunked coding: the body ends with the connection.
		stream = streamRaw
	}
	if stream == streamEvents || stream == streamRaw {
		keep = false
	}
	if file == nil {
		length = int64(len(r.Body))
	}
	start := len(dst)
	dst = appendHeadStart(dst, c.p.server, currentDate(), status, r, flags, bodyless)
	switch {
	case stream == streamChunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case stream != 0, status == 204, status == 304 && length == 0:
	default:
		dst = appendContentLength(dst, length)
	}
	dst = c.appendConnection(dst, keep)
	dst = append(dst, "\r\n"...)

	noBody := c.headReq || bodyless
	if stream != 0 {
		c.state, c.stream, c.status = stStreaming, stream, status
		c.keepAlive = keep
		if len(r.Body) > 0 && !noBody {
			return c.encodeChunk(dst, r.Body)
		}
		return dst, nil
	}
	if file != nil {
		if noBody || length == 0 {
			file.Close()
		} else if !c.c.WriteFile(file, offset, length) {
			// Written during Encode, the file follows the head in dst. It
			// only fails on a closing connection (the protocol is paced:
			// no send is dropped for a full buffer).
			c.finish(status, 0, false)
			return dst[:start], errors.New("http: response dropped: the connection is closing")
		}
		c.finish(status, length, keep)
		return dst, nil
	}
	if !noBody {
		dst = append(dst, r.Body...)
	}
	c.finish(status, length, keep)
	return dst, nil
}

// encodeChunk writes one piece of a streamed body; an empty one ends it.
func (c *conn) encodeChunk(dst []byte, data []byte) ([]byte, error) {
	if c.state != stStreaming || c.stream == streamEvents {
		return dst, errNotStreaming
	}
	if c.headReq {
		if len(data) == 0 {
			c.finish(c.status, c.streamed, c.keepAlive)
		}
		return dst, nil
	}
	c.streamed += int64(len(data))
	if c.stream == streamRaw {
		dst = append(dst, data...)
	} else {
		dst = http.Chunk(data).AppendTo(dst)
	}
	if len(data) == 0 {
		c.finish(c.status, c.streamed, c.keepAlive)
	}
	return dst, nil
}

// encodeEvent writes one server-sent event.
func (c *conn) encodeEvent(dst []byte, e *http.ServerSentEvent) ([]byte, error) {
	if c.state != stStreaming || c.stream != streamEvents {
		return dst, errNotStreaming
	}
	if c.headReq {
		return dst, nil
	}
	return e.AppendTo(dst), nil
}

// fieldFlags is what the application's fields decide about the framing.
type fieldFlags struct {
	contentType, server bool // set by the application: not added
	close               bool // Connection: close
	chunked             bool // Transfer-Encoding: chunked
	eventStream         bool // Content-Type: text/event-stream
}

// scanFields reads the fields that matter to the encoder in one pass. It
// runs for every response: the lengths are compared before the names.
func scanFields(h http.Header, flags *fieldFlags) {
	for i := range h {
		f := &h[i]
		switch len(f.Name) {
		case 6:
			flags.server = flags.server || equalFold(f.Name, "server")
		case 10:
			if equalFold(f.Name, "connection") && hasToken(f.Value, "close") {
				flags.close = true
			}
		case 12:
			if equalFold(f.Name, "content-type") && http.ValidFieldValue(f.Value) {
				flags.contentType = true
				flags.eventStream = flags.eventStream || hasPrefixFold(f.Value, "text/event-stream")
			}
		case 17:
			if equalFold(f.Name, "transfer-encoding") && hasToken(f.Value, "chunked") {
				flags.chunked = true
			}
		}
	}
}

// appendFields writes the application's fields, skipping invalid ones and
// those whose value this encoder decides (framing and Date).
func appendFields(dst []byte, h http.Header) []byte {
	for _, f := range h {
		if !http.ValidFieldName(f.Name) || !http.ValidFieldValue(f.Value) {
			continue
		}
		switch len(f.Name) {
		case 4, 10, 14, 17:
			if equalFold(f.Name, "content-length") || equalFold(f.Name, "transfer-encoding") ||
				equalFold(f.Name, "connection") || equalFold(f.Name, "date") {
				continue
			}
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// hasToken reports whether a comma-separated field value lists token
// (case-insensitive), as in "Connection: keep-alive, close".
func hasToken(value, token string) bool {
	for v := range strings.SplitSeq(value, ",") {
		if equalFold(strings.TrimSpace(v), token) {
			return true
		}
	}
	return false
}

// equalFold compares s with a lower-case ASCII name.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFold(s[:len(prefix)], prefix)
}
