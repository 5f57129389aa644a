// Package httpserver holds the reference "hello world" HTTP servers that
// workermand is compared with: one on gnet v2 (which has no HTTP parser, so
// a minimal one lives here) and one on net/http.
package httpserver

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxHead bounds a request head; a client that sends more without ending
// its head is cut off rather than letting its buffer grow without bound.
const MaxHead = 8 << 10

// Errors nextHead returns; each means the connection cannot be served
// further and must be closed.
var (
	ErrHeadTooLarge = errors.New("request head too large")
	ErrBadRequest   = errors.New("malformed request line")
	// ErrHasBody: the benchmark only sends GETs; a request with a body
	// would leave the body in the stream, where it would be read as the
	// next request, so the server refuses it instead of desyncing.
	ErrHasBody = errors.New("request has a body")
)

// head is what the server needs to know about one request.
type head struct {
	size  int  // bytes of the head, including the blank line that ends it
	close bool // the connection must close after the response
}

var crlf2 = []byte("\r\n\r\n")

// nextHead parses the request head at the start of buf. ok is false when
// buf holds no complete head yet (read more and call again).
func nextHead(buf []byte) (h head, ok bool, err error) {
	end := bytes.Index(buf, crlf2)
	if end < 0 {
		if len(buf) > MaxHead {
			return head{}, false, ErrHeadTooLarge
		}
		return head{}, false, nil
	}
	if end+4 > MaxHead {
		return head{}, false, ErrHeadTooLarge
	}
	h.size = end + 4
	lines := buf[:end+2] // every line keeps its CRLF
	nl := bytes.Index(lines, []byte("\r\n"))
	line := lines[:nl]
	lines = lines[nl+2:]

	// method SP target SP HTTP/1.x
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return head{}, false, fmt.Errorf("%w: %q", ErrBadRequest, line)
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return head{}, false, fmt.Errorf("%w: %q", ErrBadRequest, line)
	}
	version := rest[sp2+1:]
	var http10 bool
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		return head{}, false, fmt.Errorf("%w: version %q", ErrBadRequest, version)
	}
	var sawClose, sawKeepAlive bool
	for len(lines) > 0 {
		nl := bytes.Index(lines, []byte("\r\n"))
		field := lines[:nl]
		lines = lines[nl+2:]
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			return head{}, false, fmt.Errorf("%w: header line %q", ErrBadRequest, field)
		}
		// Only three names matter here; checking the first byte keeps the
		// common case (Host, Accept, User-Agent) to one comparison.
		switch field[0] | 0x20 {
		case 'c', 't':
		default:
			continue
		}
		name, value := field[:colon], bytes.Trim(field[colon+1:], " \t")
		switch {
		case asciiEqualFold(name, "content-length"):
			if string(value) != "0" {
				return head{}, false, ErrHasBody
			}
		case asciiEqualFold(name, "transfer-encoding"):
			return head{}, false, ErrHasBody
		case asciiEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				sawClose = sawClose || asciiEqualFold(tok, "close")
				sawKeepAlive = sawKeepAlive || asciiEqualFold(tok, "keep-alive")
			}
		}
	}
	h.close = sawClose || (http10 && !sawKeepAlive)
	return h, true, nil
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
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
