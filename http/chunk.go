package http

import "strconv"

// AppendTo appends c in chunked transfer coding: the length in hex, CRLF,
// the bytes, CRLF. An empty Chunk is the last chunk with an empty trailer
// section, "0\r\n\r\n", which ends the response.
func (c Chunk) AppendTo(dst []byte) []byte {
	if len(c) == 0 {
		return append(dst, "0\r\n\r\n"...)
	}
	dst = strconv.AppendUint(dst, uint64(len(c)), 16)
	dst = append(dst, '\r', '\n')
	dst = append(dst, c...)
	return append(dst, '\r', '\n')
}
