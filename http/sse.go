package http

import (
	"strconv"
	"strings"
)

// AppendTo appends e in the text/event-stream format: each line of Comment
// as ": line", then "event: ", "id: " and "retry: <milliseconds>", then one
// "data: " line per line of Data (split at CRLF, CR or LF, which is what a
// browser joins again with LF), then the blank line that dispatches it.
//
// Empty fields are left out, and so is a Retry that is not positive. An
// Event or ID holding CR, LF or NUL is dropped entirely rather than
// stripped: a line break would inject fields of the sender's choosing, and
// a browser ignores an id with NUL. As the fields are plain strings, an
// empty Data sends no data line, so the event carries only its other fields
// (a browser dispatches nothing for it; a comment-only event is a
// keep-alive).
func (e *ServerSentEvent) AppendTo(dst []byte) []byte {
	if e.Comment != "" {
		dst = appendSSELines(dst, ": ", e.Comment)
	}
	if e.Event != "" && sseField(e.Event) {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Event...)
		dst = append(dst, '\n')
	}
	if e.ID != "" && sseField(e.ID) {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if ms := e.Retry.Milliseconds(); ms > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, ms, 10)
		dst = append(dst, '\n')
	}
	if e.Data != "" {
		dst = appendSSELines(dst, "data: ", e.Data)
	}
	return append(dst, '\n')
}

func sseField(s string) bool { return !strings.ContainsAny(s, "\r\n\x00") }

// appendSSELines writes prefix+line+LF for each line of s.
func appendSSELines(dst []byte, prefix, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		dst = append(dst, prefix...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if i < 0 {
			return dst
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		// A trailing line break starts an empty last line, so a browser
		// rebuilds exactly Data.
		s = s[i+1:]
	}
}
