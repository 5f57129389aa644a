package http

import (
	"fmt"
	"io"

	"github.com/workermand/workermand/internal/httpparse"
)

// ParseRequest parses one complete request from raw (head, then a
// Content-Length or chunked body), with the server's strict parser and its
// default limits: a request the server would refuse is an error here too,
// as is an incomplete request or bytes after it. For tests and tools; the
// Request keeps slices of raw (a chunked body is copied, de-chunked), and
// has no addresses and the default Options.
func ParseRequest(raw []byte) (*Request, error) {
	var h httpparse.Request
	n, err := httpparse.ParseHead(raw, &h, httpparse.Limits{})
	if err != nil {
		return nil, fmt.Errorf("parse request head: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("parse request head: incomplete: %w", io.ErrUnexpectedEOF)
	}
	head, rest := raw[:n], raw[n:]
	var body, trailer []byte
	switch {
	case h.Chunked:
		var d httpparse.ChunkedDecoder
		used, pieces, done, err := d.Feed(rest)
		if err != nil {
			return nil, fmt.Errorf("parse chunked body: %w", err)
		}
		if !done {
			return nil, fmt.Errorf("parse chunked body: incomplete: %w", io.ErrUnexpectedEOF)
		}
		body = []byte{}
		for _, p := range pieces {
			body = append(body, p...)
		}
		for _, t := range d.Trailers {
			trailer = append(trailer, t.Name...)
			trailer = append(trailer, ": "...)
			trailer = append(trailer, t.Value...)
			trailer = append(trailer, "\r\n"...)
		}
		rest = rest[used:]
	case h.ContentLength > 0:
		if int64(len(rest)) < h.ContentLength {
			return nil, fmt.Errorf("parse request body: %d of %d bytes: %w", len(rest), h.ContentLength, io.ErrUnexpectedEOF)
		}
		body, rest = rest[:h.ContentLength], rest[h.ContentLength:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("parse request: %d bytes after the request", len(rest))
	}
	return newRequest(head, body, trailer, source{}), nil
}
