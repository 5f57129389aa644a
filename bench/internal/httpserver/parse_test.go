package httpserver

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNextHead(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name, in string
		ok       bool
		size     int
		close    bool
		err      error
	}{
		{name: "complete", in: get, ok: true, size: len(get)},
		{name: "pipelined: first only", in: get + get, ok: true, size: len(get)},
		{name: "partial", in: get[:len(get)-1]},
		{name: "empty", in: ""},
		{name: "http/1.0 closes", in: "GET / HTTP/1.0\r\n\r\n", ok: true, size: -1, close: true},
		{name: "http/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok: true, size: -1},
		{name: "connection close", in: "GET / HTTP/1.1\r\nCONNECTION: upgrade, close\r\n\r\n", ok: true, size: -1, close: true},
		{name: "close wins over keep-alive", in: "GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n", ok: true, size: -1, close: true},
		{name: "zero content-length", in: "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ok: true, size: -1},
		{name: "body", in: "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", err: ErrHasBody},
		{name: "chunked", in: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", err: ErrHasBody},
		{name: "no version", in: "GET /\r\n\r\n", err: ErrBadRequest},
		{name: "http/2 line", in: "GET / HTTP/2.0\r\n\r\n", err: ErrBadRequest},
		{name: "header without colon", in: "GET / HTTP/1.1\r\nHost\r\n\r\n", err: ErrBadRequest},
		{name: "endless head", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHead), err: ErrHeadTooLarge},
		{name: "long complete head", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHead) + "\r\n\r\n", err: ErrHeadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.size < 0 { // the whole input is one head
				tc.size = len(tc.in)
			}
			h, ok, err := nextHead([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if ok != tc.ok || h.size != tc.size || h.close != tc.close {
				t.Fatalf("got ok=%v size=%d close=%v, want ok=%v size=%d close=%v",
					ok, h.size, h.close, tc.ok, tc.size, tc.close)
			}
		})
	}
}

func FuzzNextHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\n:\r\n\r\n",
		"\r\n\r\n",
		"GET",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		h, ok, err := nextHead(buf)
		switch {
		case err != nil:
			if ok {
				t.Fatal("ok with an error")
			}
		case ok:
			if h.size < 4 || h.size > len(buf) || h.size > MaxHead || !bytes.HasSuffix(buf[:h.size], crlf2) {
				t.Fatalf("size %d does not end a head in %q", h.size, buf)
			}
			if bytes.Contains(buf[:h.size-2], crlf2) {
				t.Fatalf("size %d skips an earlier end of head in %q", h.size, buf)
			}
		default: // incomplete: there must be no end of head, and room to wait
			if bytes.Contains(buf, crlf2) || len(buf) > MaxHead {
				t.Fatalf("incomplete for %q", buf)
			}
		}
	})
}
