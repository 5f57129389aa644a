package httpparse

// MaxChunkLine bounds a chunk-size line with its extensions and CRLF.
const MaxChunkLine = 4096

// Chunked decoder states.
const (
	stSize = iota
	stData
	stDataCRLF
	stTrailer
	stDone
	stFailed
)

// ChunkedDecoder decodes a chunked body (RFC 9112 §7.1) incrementally and
// without copying. The zero value is ready; Reset makes it reusable.
//
// Feed is given the buffered body bytes. It consumes what it can decide on:
// chunk data is handed out as soon as it arrives, while a chunk-size line, a
// chunk's closing CRLF and the trailer section are consumed only once
// complete, so the caller keeps the unconsumed tail and feeds it again with
// more bytes appended.
type ChunkedDecoder struct {
	// MaxTrailerBytes bounds the trailer section, including the final blank
	// line (default DefaultMaxHeaderBytes); beyond it Feed fails with 431.
	MaxTrailerBytes int
	// MaxTrailers bounds the number of trailer fields (default DefaultMaxHeaders).
	MaxTrailers int
	// Trailers holds the trailer fields once Feed reported done. Like the
	// pieces, they are slices into the buffer of that Feed call.
	Trailers []Header

	state  uint8
	rem    int64
	err    *Error
	pieces [][]byte
}

// Reset prepares d for a new body, keeping its limits and buffers.
func (d *ChunkedDecoder) Reset() {
	d.state, d.rem, d.err = stSize, 0, nil
	d.Trailers = d.Trailers[:0]
}

// Done reports whether the last chunk and the trailers were read.
func (d *ChunkedDecoder) Done() bool { return d.state == stDone }

// Feed decodes from buf. It returns the number of bytes consumed, the
// payload pieces found (slices into buf[:n], valid until the next Feed call
// and as long as buf is), and done once the last chunk and the trailer
// section were read: the body ends at buf[n] and any further bytes belong
// to the next message. Malformed framing (bad hex, a size that overflows,
// a bad extension, a missing CRLF, a bare LF) is an *Error with status 400;
// once failed, the decoder keeps failing until Reset.
func (d *ChunkedDecoder) Feed(buf []byte) (n int, pieces [][]byte, done bool, err error) {
	d.pieces = d.pieces[:0]
	i, e := d.feed(buf)
	if e != nil {
		d.state, d.err = stFailed, e
		return i, nil, false, e
	}
	return i, d.pieces, d.state == stDone, nil
}

func (d *ChunkedDecoder) feed(buf []byte) (int, *Error) {
	i := 0
	for {
		switch d.state {
		case stFailed:
			return i, d.err
		case stDone:
			return i, nil
		case stSize:
			rest := buf[i:]
			win := rest
			if len(win) > MaxChunkLine {
				win = win[:MaxChunkLine]
			}
			line, next, ok, err := nextLine(win, 0)
			if err != nil {
				return i, err
			}
			if !ok {
				if len(rest) >= MaxChunkLine {
					return i, errChunkLine
				}
				return i, nil
			}
			size, err := parseChunkLine(line)
			if err != nil {
				return i, err
			}
			i += next
			if size == 0 {
				d.state = stTrailer
			} else {
				d.state, d.rem = stData, size
			}
		case stData:
			avail := int64(len(buf) - i)
			if avail == 0 {
				return i, nil
			}
			take := min(avail, d.rem)
			d.pieces = append(d.pieces, buf[i:i+int(take)])
			i += int(take)
			if d.rem -= take; d.rem == 0 {
				d.state = stDataCRLF
			}
		case stDataCRLF:
			if i == len(buf) {
				return i, nil
			}
			if buf[i] != '\r' {
				if buf[i] == '\n' {
					return i, errBareLF
				}
				return i, errChunkCRLF
			}
			if i+1 == len(buf) {
				return i, nil
			}
			if buf[i+1] != '\n' {
				return i, errChunkCRLF
			}
			i += 2
			d.state = stSize
		case stTrailer:
			n, err := d.trailers(buf[i:])
			if err != nil || n == 0 {
				return i, err
			}
			i += n
			d.state = stDone
		}
	}
}

// trailers parses a complete trailer section at the start of b, returning
// its length, or 0 while it is incomplete.
func (d *ChunkedDecoder) trailers(b []byte) (int, *Error) {
	lim := Limits{MaxHeaderBytes: d.MaxTrailerBytes, MaxHeaders: d.MaxTrailers}.withDefaults()
	maxBytes, maxFields := lim.MaxHeaderBytes, lim.MaxHeaders
	win := b[:min(len(b), maxBytes)]
	d.Trailers = d.Trailers[:0]
	pos := 0
	for {
		line, next, ok, err := nextLine(win, pos)
		if err != nil {
			return 0, err
		}
		if !ok {
			d.Trailers = d.Trailers[:0]
			if len(b) >= maxBytes {
				return 0, errTrailerTooLarge
			}
			return 0, nil
		}
		pos = next
		if len(line) == 0 {
			return pos, nil
		}
		name, value, err := parseField(line)
		if err != nil {
			return 0, err
		}
		if len(d.Trailers) >= maxFields {
			return 0, errTooManyTrailers
		}
		d.Trailers = append(d.Trailers, Header{Name: name, Value: value})
	}
}

func unhex(c byte) int64 {
	switch {
	case '0' <= c && c <= '9':
		return int64(c - '0')
	case 'a' <= c && c <= 'f':
		return int64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int64(c-'A') + 10
	}
	return -1
}

// parseChunkLine parses chunk-size [ chunk-ext ] (without the CRLF):
//
//	chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
//	ext-val   = token / quoted-string
//
// Extensions are validated and ignored.
func parseChunkLine(line []byte) (int64, *Error) {
	var size int64
	k := 0
	for ; k < len(line); k++ {
		v := unhex(line[k])
		if v < 0 {
			break
		}
		if size > (1<<63-1)>>4 {
			return 0, errChunkOverflow
		}
		size = size<<4 | v
	}
	if k == 0 {
		return 0, errChunkHex
	}
	rest := line[k:]
	if len(rest) > 0 && rest[0] != ';' && rest[0] != ' ' && rest[0] != '\t' {
		return 0, errChunkHex
	}
	for len(rest) > 0 {
		rest = trimLeftOWS(rest)
		if len(rest) == 0 || rest[0] != ';' {
			return 0, errChunkExt
		}
		rest = trimLeftOWS(rest[1:])
		m := tokenLen(rest)
		if m == 0 {
			return 0, errChunkExt
		}
		rest = rest[m:]
		if t := trimLeftOWS(rest); len(t) > 0 && t[0] == '=' {
			t = trimLeftOWS(t[1:])
			if len(t) > 0 && t[0] == '"' {
				m = quotedLen(t)
			} else {
				m = tokenLen(t)
			}
			if m == 0 {
				return 0, errChunkExt
			}
			rest = t[m:]
		}
	}
	return size, nil
}

func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func tokenLen(b []byte) int {
	n := 0
	for n < len(b) && isTchar[b[n]] {
		n++
	}
	return n
}

// quotedLen returns the length of the quoted-string at the start of b
// (which starts with '"'), or 0 when it is malformed or unterminated.
func quotedLen(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i == len(b) || (b[i] < 0x20 && b[i] != '\t') || b[i] == 0x7f {
				return 0
			}
		case (c < 0x20 && c != '\t') || c == 0x7f:
			return 0
		}
	}
	return 0
}
